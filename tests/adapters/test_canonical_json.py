"""orjson makes canonical JSON now; it must be the very bytes ``json.dumps`` made, since
stored fingerprints are compared with new ones and stored states are hashed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.canonical_json import canonical_ascii_json, canonical_json

# What events, commands and snapshots hold once dumped in JSON mode: no floats.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def as_json_dumps_made_it(data: Any, *, ascii_only: bool) -> str:
    return json.dumps(data, ensure_ascii=ascii_only, sort_keys=True, separators=(",", ":"))


@given(json_values)
def test_canonical_json_is_what_json_dumps_made(data: Any) -> None:
    try:
        expected = as_json_dumps_made_it(data, ascii_only=False).encode()
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8: neither can store it
        return
    assert canonical_json(data) == expected


@given(json_values)
def test_ascii_canonical_json_is_what_json_dumps_made(data: Any) -> None:
    try:
        canonical_json(data)
    except (TypeError, UnicodeEncodeError):  # a lone surrogate: orjson refuses it
        return
    assert canonical_ascii_json(data) == as_json_dumps_made_it(data, ascii_only=True)


def test_values_orjson_does_not_take_go_the_old_way() -> None:
    data = {"big": 2**70, "list": [-(2**65)]}
    assert canonical_json(data) == as_json_dumps_made_it(data, ascii_only=False).encode()
    assert canonical_ascii_json(data) == as_json_dumps_made_it(data, ascii_only=True)


def test_characters_beyond_the_basic_plane_are_escaped_as_surrogate_pairs() -> None:
    data = ["龙井茶 😀", {"é": "\x00\x1f\x7f"}]
    assert canonical_ascii_json(data) == as_json_dumps_made_it(data, ascii_only=True)
