"""The classifier's vocabulary files: the packaged ones load, and a broken one is refused by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tiergate_api.enums import Task
from tiergate_gateway.core import _classify_cues as cues_
from tiergate_gateway.core._classify_vocabulary import (
    Cue,
    Form,
    VocabularyError,
    built_in_vocabulary,
    load_vocabulary,
)

ROOT = Path(__file__).resolve().parents[2]
REGRESSION_SET = ROOT / "tests" / "data" / "classifier-regression.jsonl"

# A cue as a file holds it, with one form of each kind (the example of the files' header).
GOOD_CUE = r"""
- cue: kw:summarize
  task: Summarization
  weight: 3.5
  lists:
    texts: [email, log, cover letter]
  match:
    - words: [summar, recap]
      then: '\w*'
    - cjk: [总结, 要約]
    - number: '\d+ bullets?\b'
    - start: '\W*(?:hi|hey)\b'
    - words: [stor]
      then: '(?:y|ies)\b'
      not_after: 'user '
    - words: [net]
      then: '\b'
      after: '\.'
    - words: ['sum up ']
      then: '(?:the |this )?{{texts}}\b'
"""


def _load(tmp_path: Path, text: str, name: str = "10-test.yaml") -> tuple[Cue, ...]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_vocabulary(tmp_path)


def test_the_packaged_vocabulary_loads_in_file_order() -> None:
    cues = built_in_vocabulary()
    names = [cue.name for cue in cues]
    assert len(names) == len(set(names)) == 61
    assert names[0] == "kw:summarize" and names[-1] == "kw:chat_role"
    assert {cue.task for cue in cues} == set(Task)
    # Files are named so that reading them in name order keeps the tasks together, in this order.
    order = [Task.SUMMARIZATION, Task.EXTRACTION, Task.CLASSIFICATION, Task.CODE_GENERATION, Task.REASONING,
             Task.CREATIVE_WRITING, Task.CHAT]
    assert sorted((cue.task for cue in cues), key=order.index) == [cue.task for cue in cues]


def _regression_text() -> str:
    """Every message of the regression set, lower-cased and prepared as the classifier reads it."""
    rows = [json.loads(line) for line in REGRESSION_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [m["content"].lower() for row in rows for m in row["messages"] if isinstance(m.get("content"), str)]
    return cues_.CJK_LATIN_SEAM.sub(" ", "\n\n".join(texts))


def test_every_match_of_a_form_starts_with_one_of_its_declared_prefixes() -> None:
    text = _regression_text()
    matched = 0
    for cue in built_in_vocabulary():
        for form in cue.forms:
            if not form.prefixes:
                continue
            for match in re.finditer(form.pattern, text, form.flags):
                matched += 1
                assert text.startswith(form.prefixes, match.start()), (cue.name, form, match.group())
    assert matched > 1000


def test_a_cue_file_with_each_kind_of_form_loads(tmp_path: Path) -> None:
    (cue,) = _load(tmp_path, GOOD_CUE)
    assert (cue.name, cue.task, cue.weight) == ("kw:summarize", Task.SUMMARIZATION, 3.5)
    words, cjk, number, start, story, net, listed = cue.forms
    assert words == Form("word", ("summar", "recap"), r"\w*")
    assert words.pattern == r"\b(?:summar|recap)(?:\w*)"
    assert cjk.pattern == "(?:总结|要約)"
    assert number.pattern == r"\b(?=\d)(?:\d+ bullets?\b)"
    assert start.pattern == r"^(?:\W*(?:hi|hey)\b)"
    assert story.pattern == r"\b(?<!user )(?:stor)(?:(?:y|ies)\b)"
    assert net.pattern == r"\b(?<=\.)(?:net)(?:\b)"
    assert listed.pattern == r"\b(?:sum\ up\ )(?:(?:the |this )?(?:email|log|cover\ letter)\b)"


def test_the_cues_shown_in_the_docs_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "classifier.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        (tmp_path / f"{number}.yaml").write_text(block, encoding="utf-8")
    assert len(load_vocabulary(tmp_path)) == len(blocks)


def test_files_are_read_in_name_order_and_a_file_of_comments_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "20-later.yaml").write_text(GOOD_CUE.replace("kw:summarize", "kw:later"), encoding="utf-8")
    (tmp_path / "10-first.yaml").write_text(GOOD_CUE, encoding="utf-8")
    (tmp_path / "15-empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a cue file", encoding="utf-8")
    assert [cue.name for cue in load_vocabulary(tmp_path)] == ["kw:summarize", "kw:later"]


def test_a_cue_name_defined_twice_is_refused_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "10-first.yaml").write_text(GOOD_CUE, encoding="utf-8")
    (tmp_path / "20-again.yaml").write_text(GOOD_CUE, encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"20-again\.yaml: cue 'kw:summarize': already defined in .*10-first"):
        load_vocabulary(tmp_path)


def test_a_folder_without_cue_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="no cue files"):
        load_vocabulary(tmp_path)


def _cue(form: str = "- words: [summar]\n      then: '\\w*'", **fields: str) -> str:
    """The text of one cue, with some of its fields replaced (a field set to "" is left out)."""
    values = {"cue": "kw:summarize", "task": "Summarization", "weight": "3.5", **fields}
    head = "".join(f"  {key}: {value}\n" for key, value in values.items() if value and key != "cue")
    return f"- cue: {values['cue']}\n{head}  match:\n    {form}\n"


def _form(form: str) -> str:
    """The text of a cue whose one form is `form`, in YAML's flow style."""
    return _cue(form=f"- {form}")


USES_TEXTS = "- {words: [summar], then: '{{texts}}'}"
BROKEN = {
    # The file as a whole.
    "not YAML": ("- cue: [kw:x\n", "not readable as YAML"),
    "not a list": ("cue: kw:summarize\n", "expected a list of cues"),
    # The schema of a cue.
    "unknown key": (_cue(wieght="3.5"), "wieght: Extra inputs are not permitted"),
    "bad name": (_cue(cue="Summarize"), "cue: String should match pattern"),
    "unknown task": (_cue(task="Summarisation"), "task: Input should be 'Classification', 'Summarization'"),
    "weight zero": (_cue(weight="0"), "weight: Input should be greater than 0"),
    "weight too heavy": (_cue(weight="7"), "weight: Input should be less than or equal to 5"),
    "weight as text": (_cue(weight="'3.5'"), "weight: Input should be a valid number"),
    "no forms": (_cue(form="[]").replace("match:\n    []", "match: []"), "match: List should have at least 1 item"),
    # The kind of a form.
    "two kinds": (
        _form("{words: [summar], cjk: [总结]}"),
        "match #1: a form has exactly one of words, cjk, number or start, not words and cjk",
    ),
    "no kind": (_form("{then: '\\b'}"), "not none"),
    "unknown form key": (_form("{words: [summar], thne: '\\w*'}"), "match #1, thne: Extra inputs are not permitted"),
    "then on a number": (_form("{number: '\\d+', then: 'x'}"), "then goes with words or cjk"),
    "after on a start": (_form("{start: 'hi', after: 'x'}"), "a start form has nothing before it"),
    # Declared prefixes.
    "capitals": (_form("{words: [Summar]}"), "words: 'Summar' has capitals, but the text it is matched against"),
    "one letter": (_form("{words: [r], then: '\\b'}"), "words: 'r' must start with a letter and be two characters"),
    "a digit first": (_form("{words: [1 word]}"), "words: '1 word' starts with a digit: text that does is a number"),
    "punctuation first": (_form("{words: ['.net']}"), "words: '.net' must start with a letter"),
    "listed twice": (_form("{words: [recap, recap]}"), "words: 'recap' is listed twice"),
    "unquoted no": (
        _form("{words: [no]}"),
        "match #1, words #1: Input should be a valid string (YAML reads an unquoted yes, no",
    ),
    "cjk without CJK": (_form("{cjk: [summar]}"), "cjk: 'summar' must start with a CJK character"),
    "cjk capitals": (_form("{cjk: [总结X]}"), "cjk: '总结X' has capitals"),
    # Word lists.
    "list without a name": (_cue(lists="{Texts: [email]}"), "lists, Texts, [key]: String should match pattern"),
    "empty list": (_cue(lists="{texts: []}"), "lists, texts: List should have at least 1 item"),
    "list with capitals": (_cue(USES_TEXTS, lists="{texts: [Email]}"), "list 'texts': 'Email' has capitals"),
    "list twice": (_cue(USES_TEXTS, lists="{texts: [log, log]}"), "list 'texts': 'log' is listed twice"),
    "unknown list": (_cue(USES_TEXTS), "match #1: then uses {{texts}}, but the cue has no list of that name"),
    "unused list": (_cue(lists="{texts: [email]}"), "list 'texts' is used by no form"),
    # Regexes.
    "then does not compile": (_form("{words: [summar], then: '(?:y|ies'}"), "then is not a valid regex"),
    "then reaching outside its group": (
        _form("{words: [summar], then: 'y)|(?:ies'}"),
        "then is not a valid regex (unbalanced parenthesis",
    ),
    "then captures": (_form("{words: [summar], then: '(y|ies)'}"), "then captures a group"),
    "number does not compile": (_form("{number: '\\d+('}"), "number is not a valid regex"),
    "start captures": (_form("{start: '(?P<hi>hi)'}"), "start captures a group"),
    "after of varying width": (
        _form("{words: [net], after: '\\.+'}"),
        "after is not a valid regex (look-behind requires fixed-width",
    ),
    "not_after does not compile": (_form("{words: [net], not_after: '['}"), "not_after is not a valid regex"),
    "then with a global flag": (_form("{words: [summar], then: '(?i)y'}"), "then sets a flag for the whole pattern"),
}


@pytest.mark.parametrize(("text", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_cue_file_is_refused_naming_the_file_the_cue_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(VocabularyError) as refused:
        _load(tmp_path, text, name="30-broken.yaml")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / '30-broken.yaml'}: ")
    if not problem.startswith(("not readable", "expected a list")):
        assert "cue 'kw:summarize': " in message or "cue 'Summarize': " in message
    assert problem in message
