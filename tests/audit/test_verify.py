"""Hash chains: an intact log verifies; rows changed behind the library's back are caught
with the first bad version and the right reason, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.audit.chain import GENESIS, link_hash, unseal
from adapters.audit.verify import Finding, verify_chains
from adapters.mapper import canonical_json
from application import CRM
from application.commands import AwardLoyaltyPoints
from tests.application.builders import MANAGER
from tests.audit.history import record_history, run_sql, stream_key


def findings(crm: CRM) -> list[tuple[str, int, str]]:
    report = verify_chains(crm.store)
    return [(str(f.aggregate_id), f.version, f.reason) for f in report.findings]


def test_an_untouched_log_verifies_every_stream(crm: CRM) -> None:
    history = record_history(crm)

    report = verify_chains(crm.store)

    assert report.ok and report.findings == []
    assert report.events == crm.store.count_events()
    assert report.unhashed == 0
    # customer, opportunity, order, complaint, one command record each, one reservation
    # per command-less id is not made here: every stream has a chain of its own
    assert report.streams >= 4 + 8
    assert len(crm.events(history.customer_id)) == 5


def test_every_event_links_to_its_predecessor_and_version_1_to_genesis(
    crm: CRM, store_url: str
) -> None:
    history = record_history(crm)

    rows = run_sql(
        store_url,
        "SELECT originator_version, state FROM stored_events WHERE originator_id = ? "
        "ORDER BY originator_version",
        (stream_key(store_url, history.customer_id),),
    )

    seals = [unseal(bytes(state)) for _, state in rows]
    assert all(seal is not None for seal in seals)
    prevs = [seal[1] for seal in seals if seal is not None]
    hashes = [seal[0] for seal in seals if seal is not None]
    assert prevs == [GENESIS, *hashes[:-1]]
    # the stored state is still canonical JSON with the seal keys first
    state = json.loads(bytes(rows[0][1]))
    assert list(state)[:2] == ["_hash", "_prev"]
    assert canonical_json(state) == bytes(rows[0][1])


def test_a_changed_state_is_caught_as_altered_at_its_version(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    key = stream_key(store_url, history.customer_id)
    (state,) = run_sql(
        store_url,
        "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 4",
        (key,),
    )[0]
    forged = bytes(state).replace(b'"points":120', b'"points":9120')
    assert forged != bytes(state)
    run_sql(
        store_url,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 4",
        (forged, key),
    )

    assert findings(crm) == [(str(history.customer_id), 4, "altered")]


def test_a_changed_type_is_caught_as_altered(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    run_sql(
        store_url,
        "UPDATE stored_events SET topic = 'LoyaltyPointsRedeemed' "
        "WHERE originator_id = ? AND originator_version = 4",
        (stream_key(store_url, history.customer_id),),
    )

    assert findings(crm) == [(str(history.customer_id), 4, "altered")]


def test_a_deleted_row_is_caught_as_missing(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    run_sql(
        store_url,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 3",
        (stream_key(store_url, history.customer_id),),
    )

    assert findings(crm) == [(str(history.customer_id), 3, "missing")]


def test_a_deleted_first_event_is_caught_as_missing_version_1(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    run_sql(
        store_url,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 1",
        (stream_key(store_url, history.customer_id),),
    )

    assert findings(crm) == [(str(history.customer_id), 1, "missing")]


def test_a_deleted_row_with_the_rest_renumbered_is_caught_as_missing(
    crm: CRM, store_url: str
) -> None:
    history = record_history(crm)
    key = stream_key(store_url, history.customer_id)
    run_sql(
        store_url,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
        (key,),
    )
    for version in (3, 4, 5):
        run_sql(
            store_url,
            "UPDATE stored_events SET originator_version = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            (version - 1, key, version),
        )

    report = verify_chains(crm.store)

    (finding,) = report.findings
    assert (finding.version, finding.reason) == (2, "missing")
    assert "recorded as version 3" in finding.detail


def test_two_versions_states_swapped_are_caught_as_reordered(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    key = stream_key(store_url, history.customer_id)
    rows = dict(
        run_sql(
            store_url,
            "SELECT originator_version, state FROM stored_events "
            "WHERE originator_id = ? AND originator_version IN (2, 3)",
            (key,),
        )
    )
    for version, other in ((2, 3), (3, 2)):
        run_sql(
            store_url,
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (bytes(rows[other]), key, version),
        )

    assert findings(crm) == [(str(history.customer_id), 2, "reordered")]


def test_a_removed_seal_is_caught_as_altered(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    key = stream_key(store_url, history.customer_id)
    (state,) = run_sql(
        store_url,
        "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 5",
        (key,),
    )[0]
    sealed = unseal(bytes(state))
    assert sealed is not None
    run_sql(
        store_url,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 5",
        (sealed[2], key),
    )

    report = verify_chains(crm.store)

    assert [(f.version, f.reason) for f in report.findings] == [(5, "altered")]
    assert "hash was removed" in report.findings[0].detail


def test_each_broken_stream_is_reported_once_and_the_others_still_verify(
    crm: CRM, store_url: str
) -> None:
    history = record_history(crm)
    run_sql(
        store_url,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
        (stream_key(store_url, history.customer_id),),
    )
    run_sql(
        store_url,
        "UPDATE stored_events SET topic = 'OrderRejected' WHERE originator_id = ?",
        (stream_key(store_url, history.order_id),),
    )

    report = verify_chains(crm.store)

    assert sorted(findings(crm)) == sorted(
        [(str(history.customer_id), 2, "missing"), (str(history.order_id), 1, "altered")]
    )
    assert report.broken == 2 and report.streams > 2


def _legacy_state(points: int) -> bytes:
    return canonical_json(
        {
            "class_version": 1,
            "recorded_at": "2024-01-02T03:04:05Z",
            "occurred_at": "2024-01-02T03:04:05Z",
            "actor_id": "old-system",
            "command_id": None,
            "points": points,
            "balance_after": points,
            "reason": None,
        }
    )


def test_a_store_written_before_chains_is_reported_unhashed_not_broken(crm: CRM) -> None:
    stream = uuid4()
    crm.store.recorder.insert_events(
        [StoredEvent(stream, 1, "LoyaltyPointsEarned", _legacy_state(5))]
    )
    seen: list[Finding] = []

    report = verify_chains(crm.store, on_finding=seen.append)

    assert report.ok and report.unhashed == 1 and report.findings == []
    assert [(f.aggregate_id, f.version, f.reason) for f in seen] == [(stream, 1, "unhashed")]


def test_a_sealed_event_after_unhashed_ones_anchors_them(crm: CRM, store_url: str) -> None:
    history = record_history(crm)
    key = stream_key(store_url, history.customer_id)
    # Make the customer's history look as if written before chains: strip every seal.
    for version, state in run_sql(
        store_url,
        "SELECT originator_version, state FROM stored_events WHERE originator_id = ?",
        (key,),
    ):
        sealed = unseal(bytes(state))
        assert sealed is not None
        run_sql(
            store_url,
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (sealed[2], key, version),
        )
    with CRM.open(store_url) as fresh:  # no remembered heads: the chain is computed
        assert verify_chains(fresh.store).unhashed == 1
        fresh.execute(AwardLoyaltyPoints(customer_id=history.customer_id, points=1), actor=MANAGER)
        assert verify_chains(fresh.store).ok
        assert verify_chains(fresh.store).unhashed == 0

        run_sql(
            store_url,
            "UPDATE stored_events SET topic = 'MembershipLeft' "
            "WHERE originator_id = ? AND originator_version = 5",
            (key,),
        )

        assert findings(fresh) == [(str(history.customer_id), 6, "altered")]


def test_the_hash_covers_type_stream_version_and_the_stored_content_bytes() -> None:
    stream = uuid4()
    content = b'{"a":1,"class_version":1}'
    base = link_hash(GENESIS, "T", stream, 1, content)

    assert base != link_hash(GENESIS, "U", stream, 1, content)
    assert base != link_hash(GENESIS, "T", uuid4(), 1, content)
    assert base != link_hash(GENESIS, "T", stream, 2, content)
    assert base != link_hash(GENESIS, "T", stream, 1, b'{"a":2,"class_version":1}')
    assert base != link_hash("f" * 64, "T", stream, 1, content)
