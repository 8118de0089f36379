"""Shared fixtures: a PostgreSQL server for the session and a fresh store per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from application import CRM
from tests.postgres_server import Server, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """Never skipped: no server and no way to start one fails the run."""
    try:
        with postgres_server() as server:
            yield server
    except RuntimeError as error:  # pragma: no cover - only on a machine without PostgreSQL
        pytest.fail(f"PostgreSQL is required and could not be reached or started: {error}")


@pytest.fixture(scope="session")
def pg_schemas(postgres: Server) -> Iterator[list[str]]:
    """Schemas made by this run, dropped at its end."""
    schemas: list[str] = []
    yield schemas
    with postgres.connect() as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_url(postgres: Server, pg_schemas: list[str]) -> str:
    """A schema no other run or test has seen."""
    schema = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    pg_schemas.append(schema)
    return postgres.url(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same application test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def crm(store_url: str) -> Iterator[CRM]:
    with CRM.open(store_url) as instance:
        yield instance


POSTGRES_TESTS_RUN: list[str] = []


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    """A ``crm`` command run in process configures structlog for the whole process (its
    level, loggers cached on first use); the next test gets back what it had, or an info
    event it captures would be filtered out before the capture (a test that passed or
    failed by the order it ran in)."""
    config = structlog.get_config()
    yield
    structlog.reset_defaults()
    structlog.configure(**config)


@pytest.fixture(autouse=True)
def _count_postgres_tests(request: pytest.FixtureRequest) -> None:
    if "postgres" in request.fixturenames:
        POSTGRES_TESTS_RUN.append(request.node.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a run in which no PostgreSQL test ran is a failure, whatever else passed."""
    selected_all = not session.config.option.keyword and not session.config.option.markexpr
    if os.environ.get("CI") and selected_all and session.testscollected and not POSTGRES_TESTS_RUN:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nFAILED: no PostgreSQL test ran in CI; the production store went untested.")
