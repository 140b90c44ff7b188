"""The keyword scanner finds exactly the cues whose forms' own patterns match, read one by one."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiergate_api.enums import Task
from tiergate_gateway.core import _classify_cues as cues_
from tiergate_gateway.core._classify_index import CueScanner, build_scanner, literal_alternation
from tiergate_gateway.core._classify_vocabulary import Cue, Form
from tiergate_gateway.core.classify import _SCANNER

ROOT = Path(__file__).resolve().parents[2]
REGRESSION_SET = ROOT / "tests" / "data" / "classifier-regression.jsonl"


@cache
def _reference_patterns(cues: tuple[Cue, ...]) -> tuple[tuple[int, re.Pattern[str]], ...]:
    """Each form's plain pattern (`Form.pattern`), compiled as the scanner promises to apply it."""
    return tuple((index, re.compile(form.pattern, form.flags)) for index, cue in enumerate(cues) for form in cue.forms)


def _reference_scan(lowered: str, scanner: CueScanner = _SCANNER) -> list[int]:
    return sorted({index for index, pattern in _reference_patterns(scanner.cues) if pattern.search(lowered)})


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


_FORMS = [form for cue in _SCANNER.cues for form in cue.forms]
_VOCABULARY = sorted(
    {prefix.strip() for form in _FORMS for prefix in form.prefixes}
    | {m.group().strip() for form in _FORMS for m in re.finditer(r"[^\W\d_][\w' -]{1,18}", form.rest)}
    | {word for form in _FORMS for _, words in form.lists for word in words}
    | {"1 word", "3 bullets", "~300", "2-line version", "c++", "c#", "o(n)", "用javascript写", "什么", "で書いて"}
    | {"user story", "asp.net"}
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


def _fired(text: str, scanner: CueScanner = _SCANNER) -> set[str]:
    lowered, has_cjk = _prepared(text)
    return {scanner.cues[index].name for index in scanner.scan(lowered, has_cjk)}


def test_a_digit_spelled_one_word_still_does_not_fire_as_before_issue_14() -> None:
    assert "kw:one_label" not in _fired("Answer in 1 word only.")
    assert "kw:one_label" in _fired("Answer in one word only.")


def test_a_look_behind_is_checked_where_the_word_starts() -> None:
    assert "kw:story" in _fired("Tell me a story")
    assert "kw:story" not in _fired("Write the user story for login")
    assert "kw:lang" in _fired("A .net service")
    assert "kw:lang" not in _fired("A fishing net")


_SUM_UP = Form("word", ("sum up ",), "{{texts}}s?", lists=(("texts", ("log", "mail")),))
# One cue of each kind of form, and forms that share prefixes, to weave by hand.
_HANDMADE = (
    Cue("kw:write", Task.CREATIVE_WRITING, 0.6, (Form("word", ("write", "writing"), r"\b"),)),
    Cue("kw:write_poem", Task.CREATIVE_WRITING, 3.0, (Form("word", ("write",), r"\b(?=.{0,20}poem)"),)),
    Cue("kw:story", Task.CREATIVE_WRITING, 2.5, (Form("word", ("stor",), r"(?:y|ies)\b", not_after="user "),)),
    Cue("kw:net", Task.CODE_GENERATION, 1.0, (Form("word", ("net",), r"\b", after=r"\."),)),
    Cue("kw:bullets", Task.SUMMARIZATION, 1.2, (Form("number", (), r"\d+ bullets?\b"),)),
    Cue("kw:summary_cjk", Task.SUMMARIZATION, 3.5, (Form("cjk", ("总结", "要約"), ""),)),
    Cue("kw:greeting", Task.CHAT, 1.5, (Form("start", (), r"\W*(?:hi|hello)\b"),)),
    Cue("kw:sum_up", Task.SUMMARIZATION, 3.0, (_SUM_UP,)),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please write it", {"kw:write"}),
        ("writing a poem", {"kw:write"}),
        ("write me a poem", {"kw:write", "kw:write_poem"}),
        ("rewrite", set()),
        ("two stories, not the user story", {"kw:story"}),
        ("the user story", set()),
        ("asp.net or a net", {"kw:net"}),
        ("in 3 bullets", {"kw:bullets"}),
        ("in3 bullets", set()),
        ("请总结一下", {"kw:summary_cjk"}),
        ("hi there", {"kw:greeting"}),
        ("oh hi there", set()),
        ("sum up the logs", set()),
        ("sum up logs", {"kw:sum_up"}),
        ("sum up mail", {"kw:sum_up"}),
    ],
)
def test_each_kind_of_form_is_tried_where_its_pattern_says(text: str, expected: set[str]) -> None:
    scanner = build_scanner(_HANDMADE)
    assert _fired(text, scanner) == expected
    assert {scanner.cues[index].name for index in _reference_scan(_prepared(text)[0], scanner)} == expected


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=20), st.text(max_size=8))
def test_literal_alternation_matches_exactly_its_words(words: set[str], other: str) -> None:
    pattern = re.compile(literal_alternation(words))
    assert all(pattern.fullmatch(word) for word in words)
    assert (pattern.fullmatch(other) is not None) == (other in words)
