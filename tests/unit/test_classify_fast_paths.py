"""The classifier's shortcuts give what the plain forms they stand for give."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tiergate_gateway.core import _classify_cues as cues_
from tiergate_gateway.core import classify

# The structural patterns as first written; `_classify_cues` spells them so `re` can skip ahead
# (and splits the option list in two, each form tried only where it can match).
PLAIN_DATE_LIKE = re.compile(r"\d{1,4}[/:-]\d{1,2}(?:[/:-]\d{1,4})?|\d{1,2}\.\d{1,2}\.\d{2,4}")
PLAIN_MATH_NOTATION = re.compile(r"[∫∑√≤≥≠∞π²³]|\\(?:frac|sqrt|int|sum)|\^\d|f\(x\)")
PLAIN_TRACE_ERROR = re.compile(r"\w(?:Error|Exception): ")
PLAIN_ARITHMETIC = re.compile(r"\d ?[+*×÷^=] ?\d|\d [-/] \d|[xy] ?[+=] ?\d|[xy] - \d")
PLAIN_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*(?![.)](?:\s|$))")
PLAIN_CHOICE_LIST = re.compile(
    r"\b(?:[\w-]++(?: [\w-]++){0,3}, )++(?:[\w-]++(?: [\w-]++){0,3}? )?(?:or|oder|ou|o|или|or maybe) [\w-]"
    r"|\b[\w-]++(?: [\w-]++){0,2},? (?:or|oder|ou|o|или) [\w-]++(?= ?\?)"
)
PLAIN_UNIT_QUANTITY = re.compile(
    r"(?<![\d.,])\d++(?:[.,]\d++)?[- ]?(?:gallons?|litres?|liters?|kg|kilograms?|grams?|pounds?|lbs?|meters?"
    r"|metres?|km|kilometers?|miles?|hours?|minutes?|seconds?|days?|weeks?|cm|mm|m²|km/h|mph|%)(?!\w)"
)

_maths_and_dates = st.lists(
    st.sampled_from([*"0123456789/:-.,^\\fx() +*=yErorxcptinsq∫²π١\n_", "km", "kg", "hours", "mph", "%", "Error: "]),
    max_size=20,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_maths_and_dates)
def test_rewritten_structural_patterns_match_as_first_written(text: str) -> None:
    assert cues_.DATE_LIKE.findall(text) == PLAIN_DATE_LIKE.findall(text)
    assert cues_.NUMBER.findall(text) == PLAIN_NUMBER.findall(text)
    assert cues_.UNIT_QUANTITY.findall(text) == PLAIN_UNIT_QUANTITY.findall(text)
    assert bool(cues_.MATH_NOTATION.search(text)) == bool(PLAIN_MATH_NOTATION.search(text))
    assert bool(cues_.ARITHMETIC.search(text)) == bool(PLAIN_ARITHMETIC.search(text))
    assert bool(cues_.TRACE_ERROR.search(text)) == bool(PLAIN_TRACE_ERROR.search(text))


_choice_bits = ["a", "b-c", "tea", " ", ", ", " or ", " oder ", " o ", " или ", "?", " ?", "maybe", "x"]
_choices = st.lists(st.sampled_from(_choice_bits), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(_choices)
def test_choice_list_forms_tried_apart_find_what_the_whole_finds(text: str) -> None:
    # Each form only where the text has what it needs, as `classify._offers_choice` tries them.
    series = ", " in text and cues_.CHOICE_SERIES.search(text) is not None
    question = "?" in text and cues_.CHOICE_QUESTION.search(text) is not None
    assert (series or question) == bool(PLAIN_CHOICE_LIST.search(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab\n é"), st.integers(0, 9000)), max_size=8))
def test_capping_parts_equals_capping_their_join(parts: list[tuple[str, int]]) -> None:
    texts = [f"<{i}>" + char * length + f"</{i}>" for i, (char, length) in enumerate(parts)]
    assert classify._cap_joined(texts) == classify._cap("\n\n".join(texts))


def _small_talk_by_tokens(text: str) -> bool:
    words = cues_.WORD.findall(text.lower())
    return len(text) <= 200 and 0 < len(words) <= 12 and all(w in cues_.SMALL_TALK_TOKENS for w in words)


_chatter = st.lists(
    st.one_of(st.sampled_from(sorted(cues_.SMALL_TALK_TOKENS)), st.sampled_from(["!", " ", ", ", "'", "ok?", "x"])),
    max_size=16,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_chatter, st.text(max_size=40)))
def test_small_talk_pattern_equals_the_token_rule(text: str) -> None:
    assert classify._is_small_talk(text) == _small_talk_by_tokens(text)


def test_lookup_tables_cover_their_lists() -> None:
    assert all(any(stem in word for stem in classify._CHOICE_WORD_STEMS) for word in cues_.CHOICE_WORDS)
    assert sorted(s for starts in classify._CODE_LINE_STARTS.values() for s in starts) == sorted(cues_.CODE_LINE_STARTS)
    assert all(re.fullmatch(classify._CODE_OPERATOR, op) for op in cues_.CODE_OPERATORS)


_LITERALS = ("Traceback (most", "panic: ", "npm ERR!", "error[E", "errno", "    at ", "\n$ ", "apt-get ", "SELECT")
_literal_bits = [*_LITERALS, *"TSEa(:![$- \n", "pani", "ERR", "rror"]
_near_literals = st.lists(st.sampled_from(_literal_bits), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(_near_literals)
def test_any_of_finds_what_one_test_per_literal_finds(text: str) -> None:
    assert classify._AnyOf(_LITERALS)(text) == any(literal in text for literal in _LITERALS)
