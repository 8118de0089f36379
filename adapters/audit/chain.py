"""The hash chain that makes the stored log tamper-evident.

Each stored event's state is the canonical JSON the mapper writes (its *content*), sealed
with two leading keys::

    {"_hash":"<64 hex>","_prev":"<64 hex>",<content without its opening brace>

``_hash = sha256(prev + "\\n" + type + "\\n" + aggregate_id + "\\n" + version + "\\n" +
content)``, where ``prev`` is the ``_hash`` of version - 1 of the same stream, or
``GENESIS`` for version 1. Both keys sort before every lowercase field name, so the sealed
state is still canonical JSON; and the content is recovered by slicing bytes, not by
re-serialising, so the hash covers the bytes exactly as stored. That is what lets chains
survive a later change to *what* is stored inside a field (ciphertext of personal data,
whose key is destroyed on erasure): the hash never needs the clear text back.

Rows written before chains existed have no seal ("unhashed"). Their link hash is computed
over the whole stored state, so a sealed event that follows them anchors that history too.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

GENESIS = "0" * 64
HASH_KEY = "_hash"
PREV_KEY = "_prev"

_HEAD = b'{"_hash":"'
_MIDDLE = b'","_prev":"'
_TAIL = b'",'
_PREV_AT = len(_HEAD) + 64 + len(_MIDDLE)
_CONTENT_AT = _PREV_AT + 64 + len(_TAIL)


def link_hash(prev: str, topic: str, aggregate_id: UUID | str, version: int, content: bytes) -> str:
    """The hash of one event given its predecessor's: type, stream (a UUID or its canonical
    text, lowercase with hyphens), version and content."""
    digest = hashlib.sha256(f"{prev}\n{topic}\n{aggregate_id}\n{version}\n".encode())
    digest.update(content)
    return digest.hexdigest()


def seal(content: bytes, hash_: str, prev: str) -> bytes:
    """The stored state: the content with ``_hash`` and ``_prev`` as its first keys."""
    if not content.startswith(b"{") or content == b"{}":
        raise ValueError("only a non-empty JSON object can be sealed")
    return b"".join((_HEAD, hash_.encode(), _MIDDLE, prev.encode(), _TAIL, content[1:]))


def unseal(state: bytes) -> tuple[str, str, bytes] | None:
    """``(hash, prev, content)`` of a sealed state, or ``None`` for an unhashed one."""
    if not state.startswith(_HEAD) or state[_PREV_AT - len(_MIDDLE) : _PREV_AT] != _MIDDLE:
        return None
    if state[_CONTENT_AT - len(_TAIL) : _CONTENT_AT] != _TAIL:
        return None
    hash_ = state[len(_HEAD) : len(_HEAD) + 64].decode("ascii", "replace")
    prev = state[_PREV_AT : _PREV_AT + 64].decode("ascii", "replace")
    return hash_, prev, b"{" + state[_CONTENT_AT:]


def stored_link(
    prev: str, topic: str, aggregate_id: UUID | str, version: int, state: bytes
) -> tuple[str, str | None, str | None, bytes]:
    """``(computed hash, stored hash, stored prev, content)`` of one stored row.

    For an unhashed row the stored hash and prev are ``None`` and the content is the
    whole state."""
    sealed = unseal(state)
    if sealed is None:
        return link_hash(prev, topic, aggregate_id, version, state), None, None, state
    stored_hash, stored_prev, content = sealed
    return link_hash(prev, topic, aggregate_id, version, content), stored_hash, stored_prev, content
