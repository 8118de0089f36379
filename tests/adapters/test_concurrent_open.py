"""Many processes (here threads) opening one PostgreSQL store at once must all succeed:
the library's CREATE OR REPLACE FUNCTION and everyone's CREATE TABLE IF NOT EXISTS race
each other ("tuple concurrently updated") unless the set-up is serialised."""

from __future__ import annotations

import threading

from adapters.event_store import EventStore
from application import CRM


def _all_at_once(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(timeout=120)


def test_eight_openers_of_one_new_store_all_succeed(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_close() -> None:
        try:
            start.wait()
            for _ in range(3):
                with CRM.open(postgres_url) as crm:
                    crm.read_models.catch_up()  # the projection tables' set-up too
                with EventStore(postgres_url):
                    pass
        except BaseException as error:
            errors.append(error)

    _all_at_once([threading.Thread(target=open_close) for _ in range(8)])
    assert errors == []
