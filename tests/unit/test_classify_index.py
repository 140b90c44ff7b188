"""The keyword scanner finds exactly the cues a plain reading of each cue's alternatives finds."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiergate_gateway.core import _classify_cues as cues_
from tiergate_gateway.core._classify_cues import KEYWORD_CUES, Cue
from tiergate_gateway.core._classify_index import (
    _expand,
    _literal_prefix,
    _split_top,
    build_scanner,
    literal_alternation,
)
from tiergate_gateway.core.classify import _SCANNER

ROOT = Path(__file__).resolve().parents[2]
REGRESSION_SET = ROOT / "tests" / "data" / "classifier-regression.jsonl"


def _never_fires(alternative: str) -> bool:
    """The first index's quirk, kept: `\\b1 word` was filed under "1", a key no token was looked up by.

    Tokens starting with a digit were only tried against alternatives starting with `\\d` (and
    against two-letter prefixes such as "3d" that may run on), so an alternative spelled with a
    literal digit and then more than a two-character word never fired.
    """
    if not alternative.startswith("\\b"):
        return False
    prefix = _literal_prefix(alternative[2:])
    word = re.match(r"\w*", prefix).group()  # type: ignore[union-attr]
    runs_on = len(word) == 2 and word == prefix
    return bool(word) and word[0].isdigit() and not runs_on and word[:3] != "0"


@cache
def _reference_patterns() -> tuple[tuple[int, re.Pattern[str]], ...]:
    """Each alternative as written, compiled as the scanner promises to apply it."""
    patterns = []
    for index, cue in enumerate(KEYWORD_CUES):
        for alternative in _split_top(cue.pattern):
            for alt in _expand(alternative):
                if not _never_fires(alt):
                    flags = re.MULTILINE if alt.startswith("\\b") else 0  # `^` and CJK ones: no flags
                    patterns.append((index, re.compile(alt, flags)))
    return tuple(patterns)


def _reference_scan(lowered: str) -> list[int]:
    return sorted({index for index, pattern in _reference_patterns() if pattern.search(lowered)})


def _prepared(text: str) -> tuple[str, bool]:
    lowered = text.lower()
    has_cjk = cues_.HAS_CJK.search(lowered) is not None
    return (cues_.CJK_LATIN_SEAM.sub(" ", lowered) if has_cjk else lowered), has_cjk


def _texts() -> list[str]:
    rows = [json.loads(line) for line in REGRESSION_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    contents = [m["content"] for row in rows for m in row["messages"] if isinstance(m.get("content"), str)]
    return contents[::4]  # a quarter keeps the test quick and still covers every language and shape


@pytest.mark.parametrize("text", _texts())
def test_scanner_agrees_with_plain_reading_on_the_regression_prompts(text: str) -> None:
    lowered, has_cjk = _prepared(text)
    assert _SCANNER.scan(lowered, has_cjk) == _reference_scan(lowered)


_VOCABULARY = sorted(
    {m.group().strip() for cue in KEYWORD_CUES for m in re.finditer(r"[^\W\d_][\w' -]{1,18}", cue.pattern)}
    | {"1 word", "3 bullets", "~300", "2-line version", "c++", "c#", "o(n)", "用javascript写", "什么", "で書いて"}
)
_pieces = st.one_of(
    st.sampled_from(_VOCABULARY),
    st.sampled_from([" ", " ", ", ", ". ", "? ", "\n", "\n\n", "'", "-", "/", ": ", "~", "(", ")", "。", "12", "é"]),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=25).map("".join))
def test_scanner_agrees_with_plain_reading_on_cue_soup(text: str) -> None:
    lowered, has_cjk = _prepared(text)
    assert _SCANNER.scan(lowered, has_cjk) == _reference_scan(lowered)


def test_literal_digit_alternatives_keep_their_old_silence() -> None:
    lowered, has_cjk = _prepared("Answer in 1 word only.")
    assert "kw:one_label" not in {KEYWORD_CUES[i].name for i in _SCANNER.scan(lowered, has_cjk)}
    lowered, has_cjk = _prepared("Answer in one word only.")
    assert "kw:one_label" in {KEYWORD_CUES[i].name for i in _SCANNER.scan(lowered, has_cjk)}


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=20), st.text(max_size=8))
def test_literal_alternation_matches_exactly_its_words(words: set[str], other: str) -> None:
    pattern = re.compile(literal_alternation(words))
    assert all(pattern.fullmatch(word) for word in words)
    assert (pattern.fullmatch(other) is not None) == (other in words)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"\b(write) it", "capturing groups"),
        (r"\bx(?:yz)", "two literal letters"),
        (r"write", "word boundary"),
        (r"\b\W+x", "literal word characters"),
    ],
)
def test_build_refuses_alternatives_it_cannot_place(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_scanner((Cue("kw:test", KEYWORD_CUES[0].task, 1.0, pattern),))
