"""Ids derived from names (RFC 4122 version 5), made without ``uuid.uuid5``'s overhead.

Idempotency records, unique-value claims and the ids of what a command creates are
derived from a name; a bulk import derives three per row. ``uuid.uuid5`` builds its UUID
through ``UUID.__init__``'s argument checks, which cost more than the SHA-1 itself: this
makes the same UUID (tests/domain/test_ids.py compares them) from the digest directly.
"""

from __future__ import annotations

import hashlib
from uuid import UUID, SafeUUID

_VERSION_AND_VARIANT_BITS = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5 = (5 << 76) | (0x8000 << 48)


def name_based_id(namespace: UUID, name: str) -> UUID:
    """``uuid.uuid5(namespace, name)``."""
    digest = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()
    value = (int.from_bytes(digest[:16], "big") & _VERSION_AND_VARIANT_BITS) | _VERSION_5
    made = object.__new__(UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", SafeUUID.unknown)
    return made
