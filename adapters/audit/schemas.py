"""JSON Schemas of every event type and of the export line, for auditors' own tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import domain.events  # noqa: F401 - importing the package registers every event type
from adapters.audit.export import EXPORT_SCHEMA_VERSION, ExportLine
from domain.events.base import ENVELOPE_FIELDS, EVENT_TYPES


def write_schemas(directory: Path) -> list[Path]:
    """``events/<Type>.schema.json`` per event type (its current class version),
    ``export-line.schema.json`` and an ``index.json`` naming them all."""
    events_dir = directory / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index: dict[str, Any] = {"export_line": "export-line.schema.json", "events": {}}
    for name in sorted(EVENT_TYPES):
        cls = EVENT_TYPES[name]
        schema = cls.model_json_schema()
        schema["x-class-version"] = cls.class_version
        # In an export line these are top-level keys; the rest is the payload.
        schema["x-envelope"] = list(ENVELOPE_FIELDS)
        path = events_dir / f"{name}.schema.json"
        _write(path, schema)
        written.append(path)
        index["events"][name] = {
            "class_version": cls.class_version,
            "schema": f"events/{name}.schema.json",
        }
    line_schema = ExportLine.model_json_schema()
    line_schema["x-schema-version"] = EXPORT_SCHEMA_VERSION
    _write(directory / "export-line.schema.json", line_schema)
    _write(directory / "index.json", index)
    written += [directory / "export-line.schema.json", directory / "index.json"]
    return written


def _write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
