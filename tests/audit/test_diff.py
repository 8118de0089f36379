"""Rebuild-and-diff: an honest read model equals its rebuild; a live row changed, deleted or
added behind the runner's back shows up as changed, missing or extra."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from adapters.audit.diff import diff_projections
from adapters.store_url import parse_store_url
from application import CRM
from tests.audit.history import record_history, run_sql

AT = datetime(2026, 6, 1, tzinfo=UTC)


def _live_sql(store_url: str, statement: str, params: tuple[object, ...] = ()) -> None:
    """``run_sql`` aims at ``stored_events``; read-model tables are named here instead."""
    location = parse_store_url(store_url)
    if location.kind == "sqlite":
        run_sql(store_url, statement, params)
        return
    with psycopg.connect(
        host=location.host, port=location.port, user=location.user, dbname=location.dbname
    ) as connection:
        connection.execute(f'SET search_path TO "{location.schema}"')
        connection.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]


def _uuid_param(store_url: str, value: object) -> object:
    return str(value) if parse_store_url(store_url).kind == "sqlite" else value


def test_live_read_models_equal_their_rebuild(crm: CRM) -> None:
    record_history(crm)
    crm.read_models.catch_up()

    report = diff_projections(crm.store, clock=lambda: AT)

    assert report.differences == 0
    assert report.position == crm.store.max_position()
    by_name = {t.table: t for t in report.tables}
    assert (
        by_name["customer_lifecycle"].live_rows == by_name["customer_lifecycle"].rebuilt_rows == 1
    )
    assert by_name["complaint_cases"].rebuilt_rows == 1


def test_changed_deleted_and_added_live_rows_are_each_reported(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    diff_projections(crm.store, clock=lambda: AT)  # brings the live tables up to AT
    _live_sql(
        store_url,
        "UPDATE customer_lifecycle SET tier = 'strategic_alliance' WHERE customer_id = ?",
        (_uuid_param(store_url, history.customer_id),),
    )
    _live_sql(
        store_url,
        "DELETE FROM complaint_cases WHERE complaint_id = ?",
        (_uuid_param(store_url, history.complaint_id),),
    )
    _live_sql(
        store_url,
        "INSERT INTO lifecycle_transitions SELECT customer_id, seq + 100, from_stage, to_stage, "
        "transitioned_at, seconds_in_from_stage, cause FROM lifecycle_transitions",
    )

    report = diff_projections(crm.store, clock=lambda: AT)

    shown = {t.table: t.shown for t in report.tables if t.differences}
    assert set(shown) == {"customer_lifecycle", "complaint_cases", "lifecycle_transitions"}
    (changed,) = shown["customer_lifecycle"]
    assert changed.kind == "changed"
    assert changed.columns == {"tier": ("strategic_alliance", "partner")}
    assert [(d.kind, d.key) for d in shown["complaint_cases"]] == [
        ("missing", {"complaint_id": history.complaint_id})
    ]
    assert {d.kind for d in shown["lifecycle_transitions"]} == {"extra"}


def test_the_scratch_store_is_removed(crm: CRM, store_url: str) -> None:
    record_history(crm)
    location = parse_store_url(store_url)

    diff_projections(crm.store, clock=lambda: AT)

    if location.kind == "postgres":
        with psycopg.connect(
            host=location.host, port=location.port, user=location.user, dbname=location.dbname
        ) as connection:
            left = connection.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                (f"{location.schema}__audit_diff_%",),
            ).fetchall()
        assert left == []
    else:
        assert not list(Path(tempfile.gettempdir()).glob("crm-audit-diff-*"))
