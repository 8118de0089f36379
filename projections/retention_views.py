"""Retention as SQL views on PostgreSQL, for reporting tools (psql, Metabase, Superset).

They compute, as of the moment they are queried (``now()``), exactly what the library's
``domain.retention`` functions compute — a test holds them to it. Scores use integer
arithmetic (ceil(5k/n) = (5k + n − 1) / n) so that no floating point can move a buyer
across a score boundary. ``{schema}`` is the read-model schema.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str
    sql: str  # the SELECT, with {schema} for the read-model schema


COUNTED = """
    SELECT * FROM {schema}.customer_purchases
    WHERE approved_at <= now() AND (cancelled_at IS NULL OR cancelled_at > now())
"""

RFM = View(
    "retention_rfm",
    """
WITH counted AS ("""
    + COUNTED
    + """),
buyers AS (
    SELECT customer_id, currency,
           min(approved_at) AS first_purchase_at, max(approved_at) AS last_purchase_at,
           count(*) AS frequency, sum(total) AS monetary,
           (now() AT TIME ZONE 'UTC')::date - (max(approved_at) AT TIME ZONE 'UTC')::date
               AS recency_days
    FROM counted GROUP BY customer_id, currency
),
ranked AS (
    SELECT b.*,
           count(*) OVER (PARTITION BY currency) AS n,
           count(*) OVER (PARTITION BY currency ORDER BY recency_days DESC) AS r_k,
           count(*) OVER (PARTITION BY currency ORDER BY frequency) AS f_k,
           count(*) OVER (PARTITION BY currency ORDER BY monetary) AS m_k
    FROM buyers b
),
scored AS (
    SELECT customer_id, currency, first_purchase_at, last_purchase_at, recency_days,
           frequency, monetary,
           ((5 * r_k + n - 1) / n)::int AS r_score,
           ((5 * f_k + n - 1) / n)::int AS f_score,
           ((5 * m_k + n - 1) / n)::int AS m_score
    FROM ranked
)
SELECT *,
       CASE
           WHEN r_score >= 4 AND f_score >= 4 THEN 'champions'
           WHEN r_score >= 4 AND f_score >= 2 THEN 'potential_loyalist'
           WHEN r_score >= 4 THEN 'new_customer'
           WHEN r_score = 3 AND f_score >= 4 THEN 'loyal'
           WHEN r_score = 3 THEN 'needs_attention'
           WHEN f_score >= 3 THEN 'at_risk'
           ELSE 'hibernating'
       END AS segment
FROM scored
""",
)

ABC = View(
    "retention_abc",
    """
WITH counted AS ("""
    + COUNTED
    + """),
buyers AS (
    SELECT customer_id, currency, min(approved_at) AS first_purchase_at, sum(total) AS monetary
    FROM counted GROUP BY customer_id, currency
),
ranked AS (
    SELECT b.*,
           row_number() OVER w AS rank,
           coalesce(sum(monetary) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
               AS above,
           sum(monetary) OVER (PARTITION BY currency) AS total
    FROM buyers b
    WINDOW w AS (PARTITION BY currency ORDER BY monetary DESC, first_purchase_at, customer_id)
)
SELECT rank, customer_id, currency, first_purchase_at, monetary,
       CASE WHEN total = 0 THEN 0 ELSE round(above / total, 4) END AS share_above,
       CASE WHEN total = 0 THEN 0 ELSE round((above + monetary) / total, 4) END
           AS cumulative_share,
       CASE
           WHEN total = 0 OR above * 100 < total * 80 THEN 'A'
           WHEN above * 100 < total * 95 THEN 'B'
           ELSE 'C'
       END AS abc_class
FROM ranked
""",
)

COHORTS = View(
    "retention_cohorts",
    """
WITH counted AS ("""
    + COUNTED
    + """),
months AS (
    SELECT customer_id,
           date_trunc('month', approved_at AT TIME ZONE 'UTC')::date AS month
    FROM counted GROUP BY 1, 2
),
first AS (SELECT customer_id, min(month) AS cohort FROM months GROUP BY 1),
sizes AS (SELECT cohort, count(*) AS size FROM first GROUP BY 1),
offsets AS (
    SELECT s.cohort, s.size, k
    FROM sizes s,
         generate_series(
             0,
             (extract(year FROM now() AT TIME ZONE 'UTC')::int * 12
              + extract(month FROM now() AT TIME ZONE 'UTC')::int)
             - (extract(year FROM s.cohort)::int * 12 + extract(month FROM s.cohort)::int)
         ) AS k
),
active AS (
    SELECT f.cohort,
           (extract(year FROM m.month)::int * 12 + extract(month FROM m.month)::int)
           - (extract(year FROM f.cohort)::int * 12 + extract(month FROM f.cohort)::int) AS k,
           count(DISTINCT m.customer_id) AS buyers
    FROM months m JOIN first f USING (customer_id)
    GROUP BY 1, 2
)
SELECT o.cohort, o.size, o.k AS month_offset, coalesce(a.buyers, 0) AS active,
       round(coalesce(a.buyers, 0)::numeric / o.size, 4) AS rate
FROM offsets o LEFT JOIN active a ON a.cohort = o.cohort AND a.k = o.k
""",
)

REPEAT_RATE = View(
    "retention_repeat_rate",
    """
WITH counted AS ("""
    + COUNTED
    + """),
buyers AS (SELECT customer_id, count(*) AS purchases FROM counted GROUP BY 1)
SELECT count(*) AS buyers,
       count(*) FILTER (WHERE purchases >= 2) AS repeat_buyers,
       CASE WHEN count(*) = 0 THEN 0
            ELSE round((count(*) FILTER (WHERE purchases >= 2))::numeric / count(*), 4)
       END AS repeat_purchase_rate
FROM buyers
""",
)

RETENTION_VIEWS = (RFM, ABC, COHORTS, REPEAT_RATE)
