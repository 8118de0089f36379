"""Which customer ids are one customer once merges are followed.

A merge closes the duplicate's stream, but its opportunities and orders live on in their own
streams, still naming the duplicate. The read models count them as the survivor's (DESIGN
§2.1); the rules that ask "is this opportunity (order) this customer's?" must agree, or a
deal in progress at the merge could never get its order, nor an old order a complaint.
Merges chain (a duplicate may itself have absorbed others), so they are followed to the end.
"""

from __future__ import annotations

from uuid import UUID

from application.unit_of_work import UnitOfWork
from domain.aggregates.customer import Customer

# A chain or a tree of merges larger than this is not a data set anyone keeps; the walk
# stops there rather than loading without end.
MAX_MERGED = 1000


def one_customer(uow: UnitOfWork, customer_id: UUID, *, field: str) -> frozenset[UUID]:
    """The customer that ``customer_id`` is now (itself, or the survivor its merges lead
    to) and every customer merged into that one, directly or through another merge."""
    survivor = uow.get(Customer, customer_id, field=field)
    seen = {survivor.id}
    while survivor.merged_into is not None and survivor.merged_into not in seen:
        survivor = uow.get(Customer, survivor.merged_into, field=field)
        seen.add(survivor.id)
    found = {survivor.id}
    pending = list(survivor.absorbed)
    while pending and len(found) < MAX_MERGED:
        duplicate_id = pending.pop()
        if duplicate_id in found:
            continue
        found.add(duplicate_id)
        pending.extend(uow.get(Customer, duplicate_id, field=field).absorbed)
    return frozenset(found)


def merged_ids(
    uow: UnitOfWork, customer_id: UUID, other_id: UUID, *, field: str
) -> frozenset[UUID]:
    """What a rule comparing two customer ids needs: nothing when they are the same id (no
    merge to follow, nothing loaded), else ``one_customer`` of the first."""
    if customer_id == other_id:
        return frozenset()
    return one_customer(uow, customer_id, field=field)
