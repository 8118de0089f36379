"""The export: every event once, in log order, in the documented shape, with hashes an
auditor can recompute from the export alone; and the JSON Schemas beside it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.audit.chain import GENESIS, link_hash
from adapters.audit.export import ExportLine, export_lines, write_export
from adapters.audit.schemas import write_schemas
from adapters.mapper import canonical_json
from application import CRM
from domain.events.base import EVENT_TYPES, event_class
from tests.audit.history import record_history

KEYS = [
    "position",
    "type",
    "class_version",
    "aggregate_id",
    "version",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "command_id",
    "payload",
    "hash",
    "prev_hash",
]


def exported(crm: CRM, **filters: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    count = write_export(crm.store, out, **filters)
    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    assert count == len(lines)
    return lines


def test_every_event_once_in_log_order_in_the_documented_shape(crm: CRM) -> None:
    record_history(crm)

    lines = exported(crm)

    assert len(lines) == crm.store.count_events()
    positions = [line["position"] for line in lines]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for line in lines:
        assert list(line) == KEYS
        ExportLine.model_validate(line)
    assert {line["type"] for line in lines} >= {
        "CustomerRegistered",
        "LoyaltyPointsEarned",
        "OpportunityOpened",
        "OrderDrafted",
        "ComplaintFiled",
        "CommandRecorded",
    }


def test_each_payload_is_its_event_type_and_reads_back_as_the_stored_event(crm: CRM) -> None:
    history = record_history(crm)

    lines = exported(crm, aggregate_id=history.customer_id)

    for line, stored in zip(lines, crm.events(history.customer_id), strict=True):
        event = event_class(line["type"]).model_validate(
            {
                **line["payload"],
                **{k: line[k] for k in ("occurred_at", "recorded_at", "actor_id", "command_id")},
                "aggregate_id": line["aggregate_id"],
                "version": line["version"],
            }
        )
        assert event == stored


def test_an_auditor_recomputes_every_hash_and_link_from_the_export_alone(crm: CRM) -> None:
    record_history(crm)

    lines = exported(crm)

    heads: dict[str, str] = {}
    for line in lines:
        content = canonical_json(
            {
                **line["payload"],
                **{
                    k: line[k]
                    for k in (
                        "class_version",
                        "recorded_at",
                        "occurred_at",
                        "actor_id",
                        "command_id",
                    )
                },
            }
        )
        expected_prev = heads.get(line["aggregate_id"], GENESIS)
        assert line["prev_hash"] == expected_prev
        assert line["hash"] == link_hash(
            expected_prev, line["type"], UUID(line["aggregate_id"]), line["version"], content
        )
        heads[line["aggregate_id"]] = line["hash"]


def test_one_aggregate_and_a_business_time_range(crm: CRM) -> None:
    history = record_history(crm)

    one = exported(crm, aggregate_id=history.customer_id)
    window = exported(
        crm, aggregate_id=history.customer_id, since=history.at(1), until=history.at(3)
    )
    recorded = list(export_lines(crm.store, since=history.at(4), time_field="recorded_at"))

    assert [line["version"] for line in one] == [1, 2, 3, 4, 5]
    assert {line["aggregate_id"] for line in one} == {str(history.customer_id)}
    assert [line["version"] for line in window] == [2, 3]  # since inclusive, until exclusive
    assert recorded and all(line["recorded_at"] >= "2026-03-06" for line in recorded)
    assert str(history.complaint_id) in {line["aggregate_id"] for line in recorded}


def test_the_export_is_read_in_pages_and_streamed(crm: CRM) -> None:
    record_history(crm)
    from adapters.audit import log_reader

    small = list(log_reader.rows_by_position(crm.store, page=3))
    whole = list(log_reader.rows_by_position(crm.store))
    by_stream = list(log_reader.rows_by_stream(crm.store, page=2))

    assert small == whole and len(whole) == crm.store.count_events()
    assert sorted(by_stream) == sorted((r[1], r[2], r[3], r[4]) for r in whole)
    keys = [(str(r[0]), r[1]) for r in by_stream]
    assert keys == sorted(keys, key=lambda k: (k[0].replace("-", ""), k[1]))


def test_schemas_for_every_event_type_and_the_export_line(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)

    index = json.loads((tmp_path / "index.json").read_text())
    assert set(index["events"]) == set(EVENT_TYPES)
    for name, entry in index["events"].items():
        schema = json.loads((tmp_path / entry["schema"]).read_text())
        assert schema["title"] == name
        assert schema["x-class-version"] == EVENT_TYPES[name].class_version
        assert set(schema["properties"]) >= {"aggregate_id", "version", "occurred_at"}
    line = json.loads((tmp_path / "export-line.schema.json").read_text())
    assert list(line["properties"]) == KEYS
    assert len(written) == len(EVENT_TYPES) + 2


def test_the_written_lines_are_the_export_lines_exactly(crm: CRM) -> None:
    history = record_history(crm)

    written = exported(crm)
    built = list(export_lines(crm.store))

    assert written == built
    assert any(
        line["payload"].get("profile", {}).get("name") == "华信贸易有限公司" for line in built
    )
    assert any(line["aggregate_id"] == str(history.complaint_id) for line in built)
