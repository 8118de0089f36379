"""Keeping the read models current, and asking them questions.

Hosts either run ``crm projections run`` as a process of its own (it follows new events
live) or, embedded, call ``crm.read_models.catch_up()`` after their commands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adapters.event_store import EventStore
from adapters.projection_runner import ProjectionRunner, ProjectionStatus
from adapters.sql import dialect_of, query, read_transaction
from application.errors import NotFound
from application.operations import Operations
from application.purchase_totals import (
    CountedPurchases,
    buyer_months,
    buyer_totals,
    repeat_counts,
)
from domain import lifecycle, retention
from domain.lifecycle import Transition
from domain.lifecycle_vocabulary import LifecycleStage
from domain.retention import AbcRow, CohortMatrix, ParetoCheck, Purchase, RfmRow
from domain.time import ensure_utc
from projections import all_projections
from projections.lifecycle import CustomerLifecycleProjection
from projections.opportunity_pipeline import PIPELINE
from projections.purchases import PURCHASES


class PipelineStage(BaseModel):
    """One row of the pipeline report: deals in a stage and what they are worth."""

    model_config = ConfigDict(frozen=True)

    stage: str
    currency: str
    deals: int
    estimated_value: Decimal
    weighted_value: Decimal


class CustomerLifecycle(BaseModel):
    """Where a customer stands in its development (客户发展过程) as of an instant."""

    model_config = ConfigDict(frozen=True)

    customer_id: UUID
    as_of: datetime
    stage: LifecycleStage
    stage_since: datetime
    at_risk_reasons: tuple[str, ...]
    history: tuple[Transition, ...]
    seconds_in_stage: dict[LifecycleStage, int]

    @property
    def at_risk(self) -> bool:
        return bool(self.at_risk_reasons)


class ReadModels:
    def __init__(self, store: EventStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        self._runner: ProjectionRunner | None = None
        self._operations = Operations(store)

    @property
    def operations(self) -> Operations:
        """Churn risk, satisfaction trend and recovery, approval queue, follow-ups, SLA."""
        self.runner  # noqa: B018 - make sure the tables exist
        return self._operations

    @property
    def runner(self) -> ProjectionRunner:
        """Created on first use: creating it creates the read-model tables."""
        if self._runner is None:
            self._runner = ProjectionRunner(self._store, all_projections(), clock=self._clock)
        return self._runner

    def catch_up(self, name: str | None = None, *, workers: int = 1) -> dict[str, int]:
        """``workers`` > 1: a long catch-up on PostgreSQL runs in that many processes,
        this one included (it takes the heaviest group of projections itself)."""
        return self.runner.catch_up(name, workers=workers)

    def rebuild(self, name: str) -> int:
        return self.runner.rebuild(name)

    def status(self) -> list[ProjectionStatus]:
        return self.runner.status()

    def pipeline(self) -> list[PipelineStage]:
        """Deals per stage and currency, from ``opportunity_pipeline`` (not from aggregates).

        Sums are made in Python with Decimal: on SQLite, SQL SUM over money would be float.
        """
        table = self.runner.projections["opportunity_pipeline"].tables[0]
        d = dialect_of(self._store)
        statement = (
            "SELECT stage, currency, estimated_value, weighted_value FROM "  # noqa: S608 # nosec B608 # a quoted constant table name
            + d.table(PIPELINE.name)
        )
        types = {c.name: c.type for c in table.columns}
        totals: dict[tuple[str, str], tuple[int, Decimal, Decimal]] = {}
        with read_transaction(self._store) as cursor:
            for row in query(cursor, d, statement):
                estimated = d.from_db(types["estimated_value"], row["estimated_value"])
                weighted = d.from_db(types["weighted_value"], row["weighted_value"]) or Decimal(0)
                key = (row["stage"], row["currency"])
                count, estimated_sum, weighted_sum = totals.get(key, (0, Decimal(0), Decimal(0)))
                totals[key] = (count + 1, estimated_sum + estimated, weighted_sum + weighted)
        return [
            PipelineStage(
                stage=stage,
                currency=currency,
                deals=count,
                estimated_value=estimated,
                weighted_value=weighted,
            )
            for (stage, currency), (count, estimated, weighted) in sorted(totals.items())
        ]

    # ---- retention (DESIGN §4), from customer_purchases -----------------------------
    #
    # The database picks the purchases that count as of T and totals them per buyer; the
    # domain's functions decide scores, classes and rates from those totals. Reading all
    # 70,000 purchases of a 23,500-customer book into ``Purchase`` values instead took
    # about 2.3 s per query, most of it pydantic validation and per-value conversion
    # (bench/queries.py; README of bench/). ``purchases()`` still returns every row.

    def purchases(self, *, currency: str | None = None) -> list[Purchase]:
        """Every purchase fact (cancelled ones included, with their cancellation time)."""
        self.runner  # noqa: B018 - make sure the tables exist
        d = dialect_of(self._store)
        types = {c.name: c.type for c in PURCHASES.columns}
        statement = "SELECT * FROM " + d.table(PURCHASES.name)  # noqa: S608 # nosec B608 # a quoted constant table name; values are parameters
        params: list[object] = []
        if currency is not None:
            statement += f" WHERE currency = {d.param}"
            params.append(currency)
        with read_transaction(self._store) as cursor:
            rows = query(cursor, d, statement, params)
        return [
            Purchase(
                order_id=d.from_db(types["order_id"], row["order_id"]),
                customer_id=d.from_db(types["customer_id"], row["customer_id"]),
                approved_at=d.from_db(types["approved_at"], row["approved_at"]),
                total=d.from_db(types["total"], row["total"]),
                currency=row["currency"],
                cancelled_at=d.from_db(types["cancelled_at"], row["cancelled_at"]),
                margin=d.from_db(types["margin"], row["margin"]),
            )
            for row in rows
        ]

    def rfm(
        self,
        *,
        as_of: datetime | None = None,
        currency: str = "CNY",
        window_days: int | None = None,
    ) -> list[RfmRow]:
        at = self._instant(as_of)
        since = None if window_days is None else retention.window_start(at, window_days)
        buyers = buyer_totals(self._counted_purchases(at, currency=currency, since=since))
        return retention.rfm_of_buyers(buyers, at, currency)

    def abc(self, *, as_of: datetime | None = None, currency: str = "CNY") -> list[AbcRow]:
        buyers = buyer_totals(self._counted_purchases(self._instant(as_of), currency=currency))
        return retention.abc_of_buyers(buyers, currency)

    def pareto(self, *, as_of: datetime | None = None, currency: str = "CNY") -> ParetoCheck:
        buyers = buyer_totals(self._counted_purchases(self._instant(as_of), currency=currency))
        return retention.pareto_check_of_buyers(buyers)

    def cohorts(self, *, as_of: datetime | None = None) -> CohortMatrix:
        at = self._instant(as_of)
        return retention.cohort_matrix_of_months(buyer_months(self._counted_purchases(at)), at)

    def repeat_purchase_rate(self, *, as_of: datetime | None = None) -> Decimal:
        return retention.repeat_purchase_rate_of(*self.repeat_purchase_counts(as_of=as_of))

    def repeat_purchase_counts(self, *, as_of: datetime | None = None) -> tuple[int, int]:
        """(buyers, buyers with two or more purchases) as of an instant: the rate's parts."""
        return repeat_counts(self._counted_purchases(self._instant(as_of)))

    def _counted_purchases(
        self, at: datetime, *, currency: str | None = None, since: datetime | None = None
    ) -> CountedPurchases:
        self.runner  # noqa: B018 - make sure the tables exist
        return CountedPurchases(self._store, at, currency=currency, since=since)

    def _instant(self, as_of: datetime | None) -> datetime:
        return self._clock() if as_of is None else ensure_utc(as_of)

    # ---- lifecycle (DESIGN §3) ------------------------------------------------------

    def lifecycle(self, customer_id: UUID, *, as_of: datetime | None = None) -> CustomerLifecycle:
        """Stage, history and at-risk reasons as of any instant, from the lifecycle read
        model's gathered events (no aggregate is loaded). Churn by the passage of time is
        in the history as soon as ``as_of`` is after its date."""
        at = self._instant(as_of)
        projection = self.runner.projections["customer_lifecycle"]
        assert isinstance(projection, CustomerLifecycleProjection)  # noqa: S101 # nosec B101 # narrowing for mypy, the registry's own class
        with self.runner.reading(projection.name) as rows:
            facts = projection.facts(rows, customer_id)
        if facts is None or at < facts.starts_at:
            raise NotFound("customer", customer_id)
        transitions = lifecycle.history(facts, at, projection.policy)
        return CustomerLifecycle(
            customer_id=customer_id,
            as_of=at,
            stage=transitions[-1].to_stage,
            stage_since=transitions[-1].transitioned_at,
            at_risk_reasons=lifecycle.at_risk(facts, at, projection.policy),
            history=tuple(transitions),
            seconds_in_stage=lifecycle.seconds_in_stage(facts, at, projection.policy),
        )
