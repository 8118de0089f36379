"""A store that may not be written gives a clear error and is left as it was.

- A read-only SQLite file: the store opens and reads, and each command is refused. File
  modes do not bind a root process that holds CAP_DAC_OVERRIDE, so when the tests run as
  root the writer runs in a child process with that capability dropped (``setpriv``).
- A PostgreSQL role without write rights: one that may only read cannot open the store,
  and one whose INSERT right on the event table is revoked while it is open is refused
  each command, writing nothing, and works again once the right is given back.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from application import CRM
from application.commands import RegisterCustomer
from tests.application.builders import REP
from tests.postgres_server import Server

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]

WRITER = """
import json, sys
from application import CRM
from application.commands import RegisterCustomer
from tests.application.builders import REP
stage = "open"
try:
    with CRM.open(sys.argv[1]) as crm:
        stage = "execute"
        crm.execute(RegisterCustomer(kind="company", name="Late Ltd"), actor=REP)
        stage = "written"
except Exception as error:
    print(json.dumps({"stage": stage, "type": type(error).__name__, "message": str(error)}))
    sys.exit(3)
print(json.dumps({"stage": stage}))
"""


def test_a_read_only_sqlite_file_gives_a_clear_error_and_is_left_unchanged(
    tmp_path: Path,
) -> None:
    database = tmp_path / "crm.db"
    url = f"sqlite:///{database}"
    with CRM.open(url) as crm:
        crm.execute(RegisterCustomer(kind="company", name="Early Ltd"), actor=REP)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["crm.db"], leftovers  # the WAL was checkpointed on close
    database.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    child = subprocess.run(
        [*(WITHOUT_OVERRIDE if os.geteuid() == 0 else []), sys.executable, "-c", WRITER, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert child.returncode == 3, child.stdout + child.stderr
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert (outcome["stage"], outcome["type"]) == ("execute", "OperationalError")
    assert "readonly database" in outcome["message"]
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    wal = tmp_path / "crm.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with CRM.open(url) as crm:  # still readable, with its one customer
        assert crm.store.count_events() == 2  # the registration and its command record


@pytest.fixture
def role(postgres: Server) -> Iterator[str]:
    name = f"crm_role_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with postgres.connect() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with postgres.connect() as admin:
            admin.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _url(server: Server, user: str, schema: str) -> str:
    return f"postgresql://{user}@{server.host}:{server.port}/{server.dbname}?schema={schema}"


def _count(server: Server, schema: str) -> int:
    with server.connect() as admin:
        statement = sql.SQL("SELECT count(*) FROM {}.stored_events").format(sql.Identifier(schema))
        row = admin.execute(statement).fetchone()
    assert row is not None
    return int(row[0])


def test_a_postgres_role_that_may_only_read_cannot_open_the_store(
    postgres: Server, postgres_url: str, role: str
) -> None:
    schema = postgres_url.rsplit("schema=", 1)[1]
    with CRM.open(postgres_url) as crm:
        crm.execute(RegisterCustomer(kind="company", name="Owner's Ltd"), actor=REP)
    with postgres.connect() as admin:
        admin.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA {0} TO {1}; GRANT SELECT ON ALL TABLES IN SCHEMA {0} TO {1}"
            ).format(sql.Identifier(schema), sql.Identifier(role))
        )

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        CRM.open(_url(postgres, role, schema))
    assert _count(postgres, schema) == 2


def test_a_postgres_role_that_loses_its_insert_right_is_refused_and_writes_nothing(
    postgres: Server, pg_schemas: list[str], role: str
) -> None:
    schema = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    pg_schemas.append(schema)
    with postgres.connect() as admin:
        admin.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
        # CRM.open says CREATE SCHEMA IF NOT EXISTS, which needs this even for its own schema.
        admin.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(postgres.dbname), sql.Identifier(role)
            )
        )
    with CRM.open(_url(postgres, role, schema)) as crm:
        crm.execute(RegisterCustomer(kind="company", name="First Ltd"), actor=REP)
        revoke = sql.SQL("REVOKE INSERT ON {}.stored_events FROM {}").format(
            sql.Identifier(schema), sql.Identifier(role)
        )
        with postgres.connect() as admin:
            admin.execute(revoke)

        with pytest.raises(PersistenceError, match="permission denied for table stored_events"):
            crm.execute(
                RegisterCustomer(kind="company", name="Second Ltd", external_ref="S-2"), actor=REP
            )
        assert _count(postgres, schema) == 2

        with postgres.connect() as admin:
            admin.execute(
                sql.SQL("GRANT INSERT ON {}.stored_events TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
        crm.execute(
            RegisterCustomer(kind="company", name="Second Ltd", external_ref="S-2"), actor=REP
        )
    assert _count(postgres, schema) == 5  # + the customer, its claim, its command record
