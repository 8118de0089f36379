"""What a projection is: a named, versioned fold of domain events into its own tables.

Projections are pure with respect to I/O: they receive a batch of events and a
``RowStore`` (implemented by the adapters over SQLite or PostgreSQL, inside the batch's
transaction) and say which rows to write. The runner commits the rows and the tracking
position together, so each event is applied exactly once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import UnionType
from typing import Any, ClassVar, Protocol
from uuid import UUID

import domain.events  # noqa: F401 - registers every event type handled_topics looks through
from domain.events.base import EVENT_TYPES, DomainEvent
from domain.personal_data import PROFILE_PATHS
from projections.retention_views import View
from projections.schema import Table

Row = dict[str, Any]


class RowStore(Protocol):
    """Row operations on the projection's own tables, within the current transaction."""

    def get(self, table: str, key: Mapping[str, Any]) -> Row | None: ...

    def select(self, table: str, where: Mapping[str, Any]) -> list[Row]: ...

    def upsert(self, table: str, row: Mapping[str, Any]) -> None: ...

    def insert(self, table: str, row: Mapping[str, Any]) -> None: ...

    def delete(self, table: str, where: Mapping[str, Any]) -> None: ...

    def prefetch(self, table: str, values: Iterable[Any]) -> None:
        """Load the rows whose leading key column is in ``values`` in one go, so that the
        ``get`` calls of a batch (found or not) cost no round trip each."""
        ...

    def select_in(
        self,
        table: str,
        column: str,
        values: Sequence[Any],
        columns: Sequence[str] | None = None,
    ) -> list[Row]:
        """Rows whose ``column`` is one of ``values``, in a few round trips; only the named
        ``columns`` when given (a wide column not needed this time stays on the server)."""
        ...

    def select_due(
        self, table: str, column: str, until: datetime, *, present: Sequence[str] = ()
    ) -> list[Row]:
        """Rows whose ``column`` (a timestamp) is at or before ``until`` and whose
        ``present`` columns are not NULL."""
        ...

    def events_at(self, keys: Sequence[tuple[UUID, int]]) -> list[DomainEvent]:
        """The log's events at these (stream, version) keys, read back and decoded as the
        runner decodes them (a value whose customer was erased reads as erased); in no
        particular order. For a projection that keeps the keys of what it needs again,
        not copies of the events."""
        ...


def handled_topics(projection: Projection) -> frozenset[str] | None:
    """The stored topics whose events ``projection`` handles (None: every one)."""
    if projection.handles is None:
        return None
    return frozenset(
        topic for topic, cls in EVENT_TYPES.items() if issubclass(cls, projection.handles)
    )


def personal_values_read(projections: Iterable[Projection]) -> frozenset[str] | None:
    """The personal values any of ``projections`` reads (None: all); a name that is no
    personal value is refused, lest a misspelt one withhold what a projection needs."""
    read: set[str] = set()
    for projection in projections:
        if projection.personal_values is None:
            return None
        unknown = projection.personal_values - set(PROFILE_PATHS)
        if unknown:
            raise ValueError(
                f"{projection.name}.personal_values names no personal value: "
                f"{sorted(unknown)} (known: {list(PROFILE_PATHS)})"
            )
        read |= projection.personal_values
    return frozenset(read)


def ids_of(events: Iterable[DomainEvent], kinds: type | tuple[type, ...]) -> list[Any]:
    """The aggregate ids of the events of these kinds: what a batch will look up."""
    return [event.aggregate_id for event in events if isinstance(event, kinds)]


class Projection(ABC):
    """Bump ``version`` whenever what the projection writes changes: the runner then
    rebuilds it from position zero on the next run (blue/green, the old tables serve
    until the new ones are complete)."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]
    # PostgreSQL views over the projection's own tables, for reporting tools.
    views: ClassVar[tuple[View, ...]] = ()
    # The event classes ``apply`` acts on (a class or a union of them; None: all): the
    # runner decodes only what some projection of a batch handles, and gives each
    # projection only its own. A projection in a process of its own then skips reading
    # the half of the log it never looks at.
    handles: ClassVar[type[DomainEvent] | UnionType | None] = None
    # The personal values (``domain.personal_data.PROFILE_PATHS``: "name", "birthday", ...)
    # ``apply`` reads; None: all. The others reach it as they read once erased, undecrypted:
    # decrypting is a fifth of decoding a registration, and most projections read none.
    personal_values: ClassVar[frozenset[str] | None] = None

    # How much of a catch-up's time this projection takes, relative to a simple one (1):
    # the runner splits projections among processes by it (measured with bench/).
    catch_up_weight: ClassVar[float] = 1.0

    def remake_args(self) -> tuple[Any, ...]:
        """What ``type(self)(...)`` needs to make this projection again, empty (what it
        learnt of its tables stays behind): how it is handed to another process."""
        return ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.remake_args())

    @abstractmethod
    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        """Fold a batch of events (in log order, bookkeeping records excluded) into rows."""

    def tick(self, now: datetime, rows: RowStore) -> None:  # noqa: B027 - optional hook
        """Bring time-dependent columns up to ``now`` (an SLA passing its due time, a
        customer churning a year after the last purchase): things that change with no
        event. The runner calls it after each catch-up, in its own transaction."""

    def batch_begins(self, tracking: str, position: int) -> int:
        """The runner is about to write this projection's tables, tracked as ``tracking``
        at ``position`` (locked). A projection that keeps what it learnt of its tables
        between batches drops it unless the last batch it saw commit left them at exactly
        this position: otherwise another process wrote them, or a batch rolled back.
        Returns a token for ``batch_committed``."""
        return 0

    def batch_committed(self, token: int, tracking: str, position: int) -> None:  # noqa: B027 - optional hook
        """The batch that ``batch_begins`` returned ``token`` for has committed: the tables
        now hold ``position``. Called after the commit, perhaps after another batch began."""

    def catch_up_begins(self, now: datetime) -> None:  # noqa: B027 - optional hook
        """The runner's clock as a catch-up or rebuild starts. A projection may compute its
        time-dependent columns as of it from the first batch on, so that the tick after
        the catch-up finds little left to do; the tables it ends with are the same."""
