"""The PostgreSQL connection of a command dies in the middle of the command.

A hook in the event recorder holds the command's transaction open after its rows are
inserted (the table lock taken, nothing committed) and, from another connection, terminates
the writer's backend with ``pg_terminate_backend``. The server rolls the transaction back;
the recorder's bounded retry then either writes the whole command on a fresh connection (a
clean retry) or, when every attempt is cut, gives up with the library's typed
``OperationalError``. Either way no command is ever half written: the events of every
stream it touches (the aggregate, the unique-value claim, the command record) are all there
exactly once, or none of them is.

A second fault: the commit succeeds but its acknowledgement is lost, so the driver retries
a write that is already done. The retry collides with itself and the command id recognises
the first execution: nothing is applied twice.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import OperationalError, PersistenceError

from application import CRM
from application.commands import RecordContact, RegisterCustomer
from domain.events.reservations import UniqueValueClaimed
from tests.application.builders import REP
from tests.postgres_server import Server

COMMANDS = 12  # each cut once, then retried


class Cutter:
    """Terminates the writing backend on one insert in ``every`` (the 1st, the 1 + every-th,
    …): with ``every=2`` each command's first attempt is cut and its retry is not."""

    def __init__(self, crm: CRM, server: Server, every: int) -> None:
        self.every = every
        self.cuts = 0
        self.calls = 0
        recorder: Any = crm.store.recorder
        self._fetch: Callable[..., Any] = recorder._fetch_ids_after_insert_events
        recorder._fetch_ids_after_insert_events = self._fetch_after_cut
        self._server = server

    def _fetch_after_cut(self, curs: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.every and (self.calls - 1) % self.every == 0:
            self.cuts += 1
            pid = curs.connection.info.backend_pid
            with self._server.connect() as other:
                # Waits (up to 5 s) until the backend is gone: its transaction is rolled back.
                (gone,) = other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
            assert gone
        return self._fetch(curs, *args, **kwargs)


def stored(crm: CRM) -> Counter[tuple[UUID, int]]:
    """Every stored (stream, version), with how many times it is there."""
    return Counter((n.originator_id, n.originator_version) for n in crm.store.read(limit=10**6))


@pytest.fixture
def pg_crm(postgres_url: str) -> Iterator[CRM]:
    with CRM.open(postgres_url, pool_size=2) as crm:
        yield crm


def test_a_cut_connection_is_retried_cleanly_and_every_command_is_written_once(
    pg_crm: CRM, postgres: Server
) -> None:
    cutter = Cutter(pg_crm, postgres, every=2)
    customers = []
    for number in range(COMMANDS // 2):
        customer = pg_crm.execute(
            RegisterCustomer(kind="company", name=f"Firm {number}", external_ref=f"F-{number}"),
            actor=REP,
        )
        customers.append(customer.aggregate_id)
        pg_crm.execute(
            RecordContact(
                customer_id=customer.aggregate_id,
                channel="phone",
                direction="inbound",
                summary="Asked for a quote",
            ),
            actor=REP,
        )

    assert cutter.cuts == COMMANDS
    assert cutter.calls == 2 * COMMANDS  # each command: one cut attempt, one clean one
    rows = stored(pg_crm)
    assert set(rows.values()) == {1}, "a (stream, version) stored twice"
    # Per command: its events, and a command record; a registration also its claim.
    assert len(rows) == COMMANDS // 2 * (2 + 1 + 2)
    for customer_id in customers:
        assert [e.version for e in pg_crm.store.load(customer_id)] == [1, 2]
    claims = [
        e
        for n in pg_crm.store.read(limit=10**6)
        if isinstance(e := pg_crm.store.decode(n), UniqueValueClaimed)
    ]
    assert sorted(c.value for c in claims) == sorted(f"F-{n}" for n in range(COMMANDS // 2))
    pg_crm.read_models.catch_up()
    assert len(pg_crm.read_models.operations.churn_risk()) == 0  # the tables are readable


def test_a_connection_cut_on_every_attempt_gives_a_typed_error_and_writes_nothing(
    pg_crm: CRM, postgres: Server
) -> None:
    first = pg_crm.execute(RegisterCustomer(kind="company", name="Before"), actor=REP)
    before = stored(pg_crm)
    cutter = Cutter(pg_crm, postgres, every=1)

    with pytest.raises(OperationalError) as caught:
        pg_crm.execute(
            RegisterCustomer(kind="company", name="Cut", external_ref="CUT-1"), actor=REP
        )

    assert isinstance(caught.value, PersistenceError)
    assert "terminat" in str(caught.value).lower()
    assert cutter.cuts == cutter.calls == 10  # the recorder's bounded retry, then the error
    assert stored(pg_crm) == before, "a cut command left something behind"
    cutter.every = 0  # the connection is healthy again: the store works, nothing is stuck
    again = pg_crm.execute(
        RegisterCustomer(kind="company", name="Cut", external_ref="CUT-1"), actor=REP
    )
    assert again.version == 1 and again.aggregate_id != first.aggregate_id
    assert len(stored(pg_crm)) == len(before) + 3


class LostAcknowledgement:
    """The commit of the next write succeeds, then the connection reports it lost."""

    def __init__(self, crm: CRM) -> None:
        self.armed = False
        self.lost = 0
        datastore: Any = crm.store.datastore
        recorder: Any = crm.store.recorder
        self._get_connection = datastore.get_connection
        self._fetch = recorder._fetch_ids_after_insert_events
        datastore.get_connection = self._get_connection_losing_ack
        recorder._fetch_ids_after_insert_events = self._arm

    def _arm(self, *args: Any, **kwargs: Any) -> Any:
        if not self.lost:
            self.armed = True
        return self._fetch(*args, **kwargs)

    @contextlib.contextmanager
    def _get_connection_losing_ack(self) -> Iterator[Any]:
        with self._get_connection() as connection:
            yield connection
        if self.armed:  # the transaction block has committed by now
            self.armed = False
            self.lost += 1
            raise OperationalError("server closed the connection unexpectedly (simulated)")


def test_a_lost_acknowledgement_is_recognised_and_nothing_is_applied_twice(
    pg_crm: CRM,
) -> None:
    customer = pg_crm.execute(RegisterCustomer(kind="company", name="Acme"), actor=REP)
    before = stored(pg_crm)
    fault = LostAcknowledgement(pg_crm)

    result = pg_crm.execute(
        RecordContact(
            customer_id=customer.aggregate_id,
            channel="visit",
            direction="outbound",
            summary="Site survey",
        ),
        actor=REP,
    )

    assert fault.lost == 1
    assert result.replayed  # recognised by its (automatic) command id as already done
    assert result.version == 2
    rows = stored(pg_crm)
    assert set(rows.values()) == {1}
    assert len(rows) == len(before) + 2  # the contact and its command record, once
    assert [e.version for e in pg_crm.store.load(customer.aggregate_id)] == [1, 2]
