"""Recomputes every hash chain and names, per broken stream, the first bad version and why.

The log is read stream by stream (primary-key order), so only one stream is held at a
time, and of it only the hashes seen so far: memory does not grow with the log.

Reasons:

* ``missing``: a version is absent (the stream jumps), or an event sits at a lower version
  than the one its own hash was made for (earlier events were deleted and the rest
  renumbered);
* ``reordered``: an intact event links to a different event of the same stream than the
  one before it (versions or states swapped);
* ``altered``: the type, content or stored hash of an event changed, or its seal was
  removed;
* ``unhashed``: the whole stream was written before hash chains existed; it cannot be
  verified and is reported, not counted as broken. A sealed event that follows unhashed
  ones anchors them: their links are computed the same way, so changing them breaks it.

A chain cannot show that a stream's *last* events, or a whole stream, were deleted: no
later link points at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from adapters.audit.chain import GENESIS, link_hash, unseal
from adapters.audit.log_reader import rows_by_stream
from adapters.event_store import EventStore

RENUMBER_SEARCH = 10_000


@dataclass(frozen=True)
class Finding:
    aggregate_id: UUID
    version: int
    reason: str  # missing | reordered | altered | unhashed
    detail: str

    @property
    def broken(self) -> bool:
        return self.reason != "unhashed"


@dataclass
class VerifyReport:
    events: int = 0
    streams: int = 0
    broken: int = 0
    unhashed: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken == 0


@dataclass
class _Suspect:
    version: int
    topic: str
    hash: str
    prev: str
    content: bytes


class _StreamCheck:
    """Walks one stream in version order; stops checking at the first bad link but keeps
    the stream's stored hashes, to tell a reordering from an alteration at the end."""

    def __init__(self, aggregate_id: str) -> None:
        self.aggregate_id = aggregate_id
        self.prev = GENESIS
        self.expected = 1
        self.rows = 0
        self.sealed = 0
        self.hashes: set[str] = set()
        self.suspect: _Suspect | None = None
        self.finding: Finding | None = None

    def add(self, version: int, topic: str, state: bytes) -> None:
        self.rows += 1
        sealed = unseal(state)
        if sealed is not None:
            self.sealed += 1
            self.hashes.add(sealed[0])
        if self.finding is not None or self.suspect is not None:
            return
        if version != self.expected:
            self._found(
                self.expected,
                "missing",
                f"version {self.expected} is absent: the stream goes on at version {version}",
            )
            return
        self.expected += 1
        if sealed is None:
            if self.sealed:
                self._found(
                    version, "altered", "its hash was removed (the versions before it have one)"
                )
            else:
                self.prev = link_hash(self.prev, topic, self.aggregate_id, version, state)
            return
        stored_hash, stored_prev, content = sealed
        if stored_prev == self.prev and stored_hash == link_hash(
            self.prev, topic, self.aggregate_id, version, content
        ):
            self.prev = stored_hash
            return
        self.suspect = _Suspect(version, topic, stored_hash, stored_prev, content)

    def finish(self) -> Finding | None:
        if self.finding is not None:
            return self.finding
        if self.suspect is not None:
            return self._classify(self.suspect)
        if self.sealed == 0:
            return Finding(
                UUID(self.aggregate_id), 1, "unhashed", "written before hash chains; not verifiable"
            )
        return None

    def _classify(self, s: _Suspect) -> Finding:
        anchored = "" if self.sealed == self.rows else " (or an unhashed event before it changed)"
        if s.prev == self.prev:
            return self._found(
                s.version,
                "altered",
                f"its type, content or hash changed since it was recorded{anchored}",
            )
        if s.prev == GENESIS or s.prev in self.hashes:
            return self._found(
                s.version,
                "reordered",
                "it links to another event of this stream than its predecessor",
            )
        for later in range(s.version + 1, s.version + 1 + min(self.rows + 1, RENUMBER_SEARCH)):
            if link_hash(s.prev, s.topic, self.aggregate_id, later, s.content) == s.hash:
                return self._found(
                    s.version,
                    "missing",
                    f"it was recorded as version {later}: events before it were deleted "
                    "and the rest renumbered",
                )
        return self._found(
            s.version, "altered", f"its link to the version before it does not match{anchored}"
        )

    def _found(self, version: int, reason: str, detail: str) -> Finding:
        self.finding = Finding(UUID(self.aggregate_id), version, reason, detail)
        return self.finding


def verify_chains(
    store: EventStore, *, on_finding: Callable[[Finding], None] | None = None
) -> VerifyReport:
    """Check every stream; ``on_finding`` sees each broken or unhashed stream as found
    (the report keeps the broken ones, and only the count of unhashed ones)."""
    started = time.perf_counter()
    report = VerifyReport()
    check: _StreamCheck | None = None

    def close(done: _StreamCheck) -> None:
        report.streams += 1
        finding = done.finish()
        if finding is None:
            return
        if finding.broken:
            report.broken += 1
            report.findings.append(finding)
        else:
            report.unhashed += 1
        if on_finding is not None:
            on_finding(finding)

    for aggregate_id, version, topic, state in rows_by_stream(store):
        report.events += 1
        if check is None or check.aggregate_id != aggregate_id:
            if check is not None:
                close(check)
            check = _StreamCheck(aggregate_id)
        check.add(version, topic, state)
    if check is not None:
        close(check)
    report.seconds = time.perf_counter() - started
    return report
