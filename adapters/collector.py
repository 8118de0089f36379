"""Pausing Python's cyclic garbage collector while a projection catches up.

A catch-up keeps many long-lived objects (decoded events, what projections remember of
their tables), and the collector's full passes walk all of them again and again as that
heap grows: measured on 100,000 events, ten full passes took about a third of the
catch-up's time, and more the longer the log. Nearly nothing a batch drops is cyclic
(reference counting frees it), so the collector is paused for the catch-up and run once
every ``COLLECT_EVERY`` events, which bounds what cyclic garbage can pile up; it works as
before once the catch-up ends.

The collector is process-wide: the first of several threads catching up at once pauses it
and the last one restores what it found, so a host that disabled it keeps it disabled.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

COLLECT_EVERY = 200_000

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


class Collections:
    """Counts events applied under a pause and collects every ``every`` of them."""

    def __init__(self, every: int = COLLECT_EVERY) -> None:
        self._every = every
        self._since = 0

    def applied(self, events: int) -> None:
        self._since += events
        if self._since >= self._every:
            self._since = 0
            gc.collect()
