"""Canonical JSON (sorted keys, no insignificant spaces), made by orjson.

Stored states, command fingerprints and snapshots are hashed or compared byte for byte, so
their JSON must not depend on dict order. ``json.dumps(sort_keys=True)`` made it before;
on an import it cost about a tenth of the time, so orjson (a Rust encoder) makes it now,
byte for byte the same for every value our events, commands and snapshots hold: strings,
booleans, None, integers, lists and string-keyed dicts (tests/adapters/
test_canonical_json.py compares the two on generated values). What orjson does not take
(an integer beyond 64 bits, a non-string key) goes the old way. Floats are the one type
the two would write differently (``1e+16`` against ``1e16``); no event, command or
snapshot holds one (money is Decimal, written as a string).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS


def canonical_json(data: Any) -> bytes:
    """UTF-8, as ``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``."""
    try:
        return orjson.dumps(data, option=_SORTED)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def canonical_ascii_json(data: Any) -> str:
    """As ``json.dumps(data, sort_keys=True, separators=(",", ":"))``: non-ASCII escaped."""
    try:
        encoded = orjson.dumps(data, option=_SORTED)
    except TypeError:
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    if b"\x7f" in encoded:  # ``ensure_ascii`` escapes DEL too: rare enough to go the old way
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    if encoded.isascii():
        return encoded.decode("ascii")
    return encoded.decode().encode("ascii", _ESCAPE_ERRORS).decode("ascii")


def _escape(error: UnicodeError) -> tuple[str, int]:
    """Each character beyond ASCII as ``json.dumps`` escapes it: ``\\uXXXX``, in lower-case
    hex, a character beyond the basic plane as its UTF-16 surrogate pair."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for character in error.object[error.start : error.end]:
        code = ord(character)
        if code < 0x10000:
            escaped.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
    return "".join(escaped), error.end


_ESCAPE_ERRORS = "crm-json-ascii"
codecs.register_error(_ESCAPE_ERRORS, _escape)
