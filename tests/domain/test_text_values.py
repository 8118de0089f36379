"""Text fields refuse exactly the characters that break exports, terminals or reading
order: Unicode's control characters (but tab and line breaks), lone surrogates and the
bidirectional overrides and isolates."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.values import _reject_control_characters

BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refused_by_definition(text: str) -> str | None:
    """The rule as Unicode states it, one character at a time: the first refused one."""
    for ch in text:
        if ch in BIDI or (ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs")):
            return ch
    return None


def refused(text: str) -> str | None:
    try:
        _reject_control_characters(text)
    except ValueError as error:
        return chr(int(str(error).rsplit("U+", 1)[1], 16))
    return None


@given(st.text(st.characters(codec=None, exclude_categories=())))
def test_the_check_refuses_the_first_character_the_definition_refuses(text: str) -> None:
    assert refused(text) == refused_by_definition(text)


def test_every_code_point_is_judged_as_the_definition_judges_it() -> None:
    differ = [
        hex(cp) for cp in range(0x110000) if refused(chr(cp)) != refused_by_definition(chr(cp))
    ]
    assert differ == []


@pytest.mark.parametrize("text", ["Chen Jie", "line one\nline two\r\n\tindented", "陈杰 客户"])
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert _reject_control_characters(text) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [("a\x00b", "0000"), ("bell\x07", "0007"), ("\x85next", "0085"), ("abc\u202edcba", "202E")],
)
def test_refusals_name_the_character(text: str, code: str) -> None:
    with pytest.raises(ValueError, match=f"control character U\\+{code}"):
        _reject_control_characters(text)
