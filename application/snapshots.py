"""Aggregate snapshots: a long stream loads from its latest snapshot plus the events after it.

A snapshot is a cache, never a source of truth: the events stay the record, a snapshot is
ignored unless it was written by the same aggregate code (its fingerprint), and dropping
every snapshot changes nothing but speed. They are taken off the command's critical path:
the command returns first, a background thread writes the snapshot.

The state is written as tagged JSON, not pickle: a row read back from the database must
never be able to run code, so only the domain's own value types can be rebuilt from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol, TypeVar
from uuid import UUID

import structlog
from pydantic import BaseModel

from adapters.event_store import EventStore
from adapters.snapshot_store import SnapshotStore, StoredSnapshot
from domain.aggregates.base import Aggregate

A = TypeVar("A", bound=Aggregate)

# Instance attributes that are not state: never written, fresh on load.
TRANSIENT = frozenset({"_pending"})
DOMAIN = "domain."


class SnapshotError(ValueError):
    """A stored snapshot cannot be read back by this code; the caller replays instead."""


# ---- the state codec --------------------------------------------------------------------------


def encode_state(aggregate: Aggregate) -> str:
    state = {k: _encode(v) for k, v in vars(aggregate).items() if k not in TRANSIENT}
    return json.dumps(state, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def decode_state(kind: type[Aggregate], text: str) -> Aggregate:
    try:
        state = json.loads(text)
        aggregate = kind.__new__(kind)
        for name, value in state.items():
            setattr(aggregate, name, _decode(value))
        aggregate._pending = []
    except (KeyError, TypeError, ValueError, AttributeError, ImportError) as error:
        raise SnapshotError(f"unreadable {kind.kind} snapshot: {error}") from error
    return aggregate


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, Enum):
        return {"$enum": _name(type(value)), "value": value.value}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, BaseModel):
        return {"$model": _name(type(value)), "data": value.model_dump(mode="json")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$dataclass": _name(type(value)), "fields": fields}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        items = sorted((_encode(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return {"$frozenset" if isinstance(value, frozenset) else "$set": items}
    if isinstance(value, dict):
        return {"$dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot snapshot a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return [_decode(v) for v in value] if isinstance(value, list) else value
    if "$float" in value:
        return float(value["$float"])
    if "$enum" in value:
        return _class(value["$enum"])(value["value"])
    if "$decimal" in value:
        return Decimal(value["$decimal"])
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$uuid" in value:
        return UUID(value["$uuid"])
    if "$model" in value:
        return _class(value["$model"]).model_validate(value["data"])
    if "$dataclass" in value:
        fields = {k: _decode(v) for k, v in value["fields"].items()}
        return _class(value["$dataclass"])(**fields)
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$set" in value:
        return {_decode(v) for v in value["$set"]}
    if "$frozenset" in value:
        return frozenset(_decode(v) for v in value["$frozenset"])
    if "$dict" in value:
        return {_decode(k): _decode(v) for k, v in value["$dict"]}
    raise ValueError(f"unknown snapshot value {sorted(value)}")


def _name(cls: type) -> str:
    if not cls.__module__.startswith(DOMAIN):
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} is not a domain type")
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: str) -> Any:
    """Only the domain's own types: a snapshot names a class, and a name from a database row
    must not be able to import anything else."""
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith(DOMAIN) or not qualname.isidentifier():
        raise ValueError(f"snapshot names a type outside the domain: {name!r}")
    cls = getattr(importlib.import_module(module_name), qualname)
    if not isinstance(cls, type):
        raise ValueError(f"snapshot names {name!r}, which is not a type")
    return cls


_FINGERPRINTS: dict[str, str] = {}


def fingerprint(kind: type[Aggregate]) -> str:
    """Changes whenever the code that folds events into this kind's state changes, so that
    a snapshot written by older code is never mistaken for what this code would compute."""
    name = f"{kind.__module__}:{kind.__qualname__}"
    known = _FINGERPRINTS.get(name)
    if known is None:
        digest = hashlib.sha256()
        for cls in kind.__mro__:
            if cls.__module__.startswith(DOMAIN):
                digest.update(inspect.getsource(cls).encode())
        known = _FINGERPRINTS[name] = digest.hexdigest()[:16]
    return known


# ---- taking them off the critical path --------------------------------------------------------


class SnapshotWriter(Protocol):
    def put(
        self, aggregate_id: UUID, kind: str, version: int, fingerprint: str, state: str
    ) -> None: ...


class Snapshotter:
    """Decides when a stream deserves a snapshot (every ``interval`` events) and writes it
    on a background thread; a failed snapshot is logged and costs nothing but speed."""

    def __init__(self, store: SnapshotWriter, interval: int) -> None:
        self._store = store
        self.interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-snapshots")
        self._log = structlog.get_logger("crm.snapshots")
        self._lock = threading.Lock()
        self._closed = False

    def due(self, before: int, after: int) -> bool:
        """True when the command moved the stream across a multiple of the interval."""
        return self.interval > 0 and after // self.interval > before // self.interval

    def take(self, aggregate: Aggregate, *, on_done: Callable[[], None] | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._executor.submit(self._write, aggregate, on_done)

    def _write(self, aggregate: Aggregate, on_done: Callable[[], None] | None) -> None:
        try:
            kind = type(aggregate)
            self._store.put(
                aggregate.id,
                kind.kind,
                aggregate.version,
                fingerprint(kind),
                encode_state(aggregate),
            )
            self._log.info("snapshot", kind=kind.kind, version=aggregate.version)
        except Exception as error:  # a snapshot is an optimisation: never fail a caller
            self._log.warning("snapshot_failed", error=type(error).__name__)
        finally:
            if on_done is not None:
                on_done()

    def flush(self) -> None:
        """Wait for the snapshots asked for so far (tests, and closing the CRM)."""
        with self._lock:
            self._executor.submit(lambda: None).result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)


# ---- loading ----------------------------------------------------------------------------------


class AggregateLoader:
    """Rebuilds aggregates from the latest usable snapshot plus the events after it, or from
    all their events when there is none (or it was written by other code)."""

    def __init__(self, store: EventStore, snapshots: SnapshotStore | None) -> None:
        self._store = store
        self._snapshots = snapshots
        self._log = structlog.get_logger("crm.snapshots")

    def load(self, kind: type[A], aggregate_id: UUID, *, version: int | None = None) -> A | None:
        """None when the stream does not exist or is not of this kind."""
        snapshot = self._usable(kind, aggregate_id, version)
        if snapshot is not None:
            try:
                aggregate = decode_state(kind, snapshot.state)
            except SnapshotError as error:
                self._log.warning("snapshot_unreadable", kind=kind.kind, error=str(error))
            else:
                if isinstance(aggregate, kind):
                    after = self._store.load_after(
                        aggregate_id, snapshot.version, to_version=version
                    )
                    aggregate.advance(after)
                    return aggregate
        events = self._store.load(aggregate_id, to_version=version)
        if not events or not isinstance(events[0], kind.starts_with):
            return None
        return kind.replay(events)

    def _usable(
        self, kind: type[Aggregate], aggregate_id: UUID, version: int | None
    ) -> StoredSnapshot | None:
        if self._snapshots is None:
            return None
        snapshot = self._snapshots.get(aggregate_id)
        if (
            snapshot is None
            or snapshot.kind != kind.kind
            or snapshot.fingerprint != fingerprint(kind)
            or (version is not None and snapshot.version > version)
        ):
            return None
        return snapshot
