"""What a projection remembers of its own tables from one batch to the next.

A catch-up recomputes a customer each time one of its events arrives, and each time it
read back, from the database, what it had written itself a batch earlier. Keeping that in
memory is sound only while nobody else writes the tables: this records the position the
last batch it saw commit left them at, and forgets everything when the next batch starts
from any other position (another process moved on, a batch rolled back, a rebuild began
or swapped). Tokens make a commit that is reported after another batch began count for
nothing: the runner reports commits after the fact, and threads may share a projection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class TableMemory:
    def __init__(self, forget: Callable[[], None]) -> None:
        """``forget``: drop everything remembered (the projection's own caches)."""
        self._forget = forget
        self._lock = threading.Lock()
        self._generation = 0
        self._valid_at: tuple[str, int] | None = None

    def begins(self, tracking: str, position: int) -> int:
        with self._lock:
            if self._valid_at != (tracking, position):
                self._forget()
            self._valid_at = None  # until this batch commits
            self._generation += 1
            return self._generation

    def committed(self, token: int, tracking: str, position: int) -> None:
        with self._lock:
            if token == self._generation:
                self._valid_at = (tracking, position)
