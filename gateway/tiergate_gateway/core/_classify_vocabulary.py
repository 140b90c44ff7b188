"""The classifier's keyword vocabulary: the cue files of `vocabulary/`, read and checked once.

Each file is a YAML list of cues; its header comment and docs/classifier.md describe the format.
A cue is named, speaks for one task with a weight, and is spelled in one or more forms. A form
says where it is tried and, for words and CJK text, the literal text it starts with: the prefixes
`_classify_index` keys its prefix tree on. A form's regex *is* one of its prefixes followed by
the rest (`then`), so every match starts with a declared prefix by construction, and nothing has
to read regex syntax to find them. A cue may name word lists (`lists`), written `{{name}}` in its
regexes: one of the list's words, as literal text.

Everything is checked at load, and a file that breaks a rule is refused with its name, the cue
and the problem: the schema (no unknown keys), the task, the weight's range, each regex (it
compiles on its own, captures no group, sets no flag for the whole pattern, a look-behind has a
fixed width) and each prefix (lower case, as the text it is matched against; words start with a
letter, CJK text with a CJK character). Reading the packaged files, once when `classify` is
imported, is the only I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, ValidationError, model_validator

from tiergate_api.enums import Task
from tiergate_gateway.core._classify_cues import HAS_CJK

__all__ = ["Cue", "Form", "VocabularyError", "built_in_vocabulary", "load_vocabulary"]

Place = Literal["word", "cjk", "number", "start"]
"""Where a form is tried: at word starts, wherever its CJK text occurs, at word starts that are
digits, or at the start of the text only."""

_MAX_WEIGHT = 5.0  # the heaviest cue weighs 3.5; more would drown every other cue of a request
_WORD_START = re.compile(r"[^\W\d]")  # a letter (or `_`): a word the token index can key on
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")  # `{{name}}`: one of the words of the cue's list `name`
_REGEX_PARTS = ("then", "number", "start", "after", "not_after")


class VocabularyError(ValueError):
    """A cue file that cannot be read, or that breaks a rule of the format."""


@dataclass(frozen=True, slots=True)
class Form:
    """One spelling of a cue: where it is tried, the literal texts it starts with, the regex after them."""

    place: Place
    prefixes: tuple[str, ...]
    """The literal texts a match starts with (none for number and start forms)."""
    rest: str
    """The regex after a prefix; for number and start forms, the whole regex."""
    after: str = ""
    not_after: str = ""
    lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The cue's word lists (name, words), for the `{{name}}` in `rest`, `after` and `not_after`."""

    def spelled(self, regex: str, alternation: Callable[[Sequence[str]], str] | None = None) -> str:
        """One of the form's regexes with each `{{name}}` spelled out (by default `(?:a|b|...)`)."""
        if "{{" not in regex:
            return regex
        lists = dict(self.lists)
        spell = alternation or plain_alternation
        return _PLACEHOLDER.sub(lambda placeholder: spell(lists[placeholder.group(1)]), regex)

    @property
    def lookbehind(self) -> str:
        """The look-behinds checked where a match starts."""
        after, not_after = self.spelled(self.after), self.spelled(self.not_after)
        return (f"(?<={after})" if after else "") + (f"(?<!{not_after})" if not_after else "")

    @property
    def pattern(self) -> str:
        """The form as one plain regex: the cue fires where it matches (with `flags`) in lower-cased text."""
        rest = f"(?:{self.spelled(self.rest)})" if self.rest else ""
        if self.place == "start":
            return "^" + rest
        if self.place == "number":
            return r"\b(?=\d)" + self.lookbehind + rest
        head = r"\b" if self.place == "word" else ""
        return head + self.lookbehind + plain_alternation(self.prefixes) + rest

    @property
    def flags(self) -> int:
        """The flags `pattern` is compiled with, as the scanner applies it."""
        return re.MULTILINE if self.place in ("word", "number") else 0


@dataclass(frozen=True, slots=True)
class Cue:
    """One piece of evidence for a task: its name, its weight and the forms it is spelled in."""

    name: str
    task: Task
    weight: float
    forms: tuple[Form, ...]


def plain_alternation(words: Sequence[str]) -> str:
    """A group matching any of the words, as literal text."""
    return "(?:" + "|".join(map(re.escape, words)) + ")"


def built_in_vocabulary() -> tuple[Cue, ...]:
    """The cues shipped in the package's `vocabulary/` folder."""
    return load_vocabulary(resources.files(__package__) / "vocabulary")


def load_vocabulary(*folders: Traversable) -> tuple[Cue, ...]:
    """The cues of every `*.yaml` file in the folders, folder by folder in file-name order, checked.

    Raises `VocabularyError` naming the file, the cue and the problem.
    """
    cues: list[Cue] = []
    defined_in: dict[str, str] = {}
    for folder in folders:
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml") and f.is_file()), key=lambda f: f.name)
        if not files:
            raise VocabularyError(f"{folder}: no cue files (*.yaml)")
        for file in files:
            for cue in _read(file):
                if cue.name in defined_in:
                    raise VocabularyError(f"{file}: cue {cue.name!r}: already defined in {defined_in[cue.name]}")
                defined_in[cue.name] = str(file)
                cues.append(cue)
    return tuple(cues)


def _read(file: Traversable) -> list[Cue]:
    try:
        document = yaml.load(file.read_text(encoding="utf-8"), Loader=_LOADER)  # a safe loader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise VocabularyError(f"{file}: not readable as YAML: {exc}") from exc
    if document is None:
        return []  # only comments: a file kept for later
    if not isinstance(document, list):
        raise VocabularyError(f"{file}: expected a list of cues (each starting with '- cue:'), not {_kind(document)}")
    cues = []
    for position, entry in enumerate(document, 1):
        name = entry.get("cue") if isinstance(entry, dict) else None
        label = f"cue {name!r}" if isinstance(name, str) else f"cue #{position}"
        try:
            spec = _CueSpec.model_validate(entry)
        except ValidationError as exc:
            raise VocabularyError(f"{file}: {label}: {_problems(exc)}") from exc
        lists = tuple((name, tuple(words)) for name, words in spec.lists.items())
        cues.append(Cue(spec.cue, spec.task, spec.weight, tuple(form.form(lists) for form in spec.match)))
    return cues


def _problems(exc: ValidationError) -> str:
    """Pydantic's errors as one line: where in the cue (1-based positions), and what is wrong."""
    problems = []
    for error in exc.errors():
        where = ""
        for part in error["loc"]:
            where += f" #{part + 1}" if isinstance(part, int) else f", {part}" if where else str(part)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "string_type" and isinstance(error["input"], bool | int | float | None):
            message += " (YAML reads an unquoted yes, no, on, off, null or number as something else: quote it)"
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    return "a string" if isinstance(value, str) else type(value).__name__


_Regex = Annotated[StrictStr, Field(min_length=1, max_length=4000)]
_Prefixes = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=200)]], Field(min_length=1)]


class _FormSpec(BaseModel):
    """A form as written in a cue file: exactly one of `words`, `cjk`, `number` or `start`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words: _Prefixes | None = None
    cjk: _Prefixes | None = None
    number: _Regex | None = None
    start: _Regex | None = None
    then: Annotated[StrictStr, Field(max_length=4000)] = ""
    after: _Regex | None = None
    not_after: _Regex | None = None

    @model_validator(mode="after")
    def _checked(self) -> Self:
        kinds = [kind for kind in ("words", "cjk", "number", "start") if getattr(self, kind) is not None]
        if len(kinds) != 1:
            found = " and ".join(kinds) or "none"
            raise ValueError(f"a form has exactly one of words, cjk, number or start, not {found}")
        kind = kinds[0]
        if kind in ("number", "start") and self.then:
            raise ValueError(f"then goes with words or cjk; a {kind} form's regex is whole")
        if kind == "start" and (self.after or self.not_after):
            raise ValueError("a start form has nothing before it: no after or not_after")
        _check_texts(self.words or [], "words")
        for prefix in self.words or ():
            if prefix[0].isdigit():
                raise ValueError(f"words: {prefix!r} starts with a digit: text that does is a number form")
            if len(prefix) < 2 or not _WORD_START.match(prefix):
                raise ValueError(f"words: {prefix!r} must start with a letter and be two characters long at least")
        _check_texts(self.cjk or [], "cjk")
        for prefix in self.cjk or ():
            if not HAS_CJK.match(prefix):
                raise ValueError(f"cjk: {prefix!r} must start with a CJK character (for other text, use words)")
        return self

    def check_regexes(self, lists: dict[str, list[str]]) -> set[str]:
        """Check the form's regexes, its lists spelled out; return the names of the lists it uses.

        Each part is a whole regex of its own (so `then: 'a)|(?:b'` cannot reach outside its
        group) that sets no global flag, and a look-behind has a fixed width: then the parts, put
        together as `Form.pattern` and as the index weaves them, make one valid regex.
        """
        form = self.form(tuple((name, tuple(words)) for name, words in lists.items()))
        used: set[str] = set()
        for name in _REGEX_PARTS:
            value = getattr(self, name)
            if not value:
                continue
            for placeholder in _PLACEHOLDER.findall(value):
                if placeholder not in lists:
                    raise ValueError(f"{name} uses {{{{{placeholder}}}}}, but the cue has no list of that name")
                used.add(placeholder)
            value = form.spelled(value)
            _check_regex(value, name, form.flags)
            if name in ("after", "not_after"):
                _check_regex(("(?<={})" if name == "after" else "(?<!{})").format(value), name, form.flags)
        return used

    def form(self, lists: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Form:
        place: Place
        if self.words is not None:
            place, prefixes, rest = "word", tuple(self.words), self.then
        elif self.cjk is not None:
            place, prefixes, rest = "cjk", tuple(self.cjk), self.then
        elif self.number is not None:
            place, prefixes, rest = "number", (), self.number
        else:
            place, prefixes, rest = "start", (), self.start or ""
        after, not_after = self.after or "", self.not_after or ""
        used = {name for regex in (rest, after, not_after) for name in _PLACEHOLDER.findall(regex)}
        return Form(place, prefixes, rest, after, not_after, tuple(item for item in lists if item[0] in used))


class _CueSpec(BaseModel):
    """A cue as written in a cue file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cue: Annotated[StrictStr, Field(pattern=r"^[a-z]+:[a-z0-9_]+$", max_length=64)]
    task: Task
    weight: Annotated[StrictFloat, Field(gt=0, le=_MAX_WEIGHT)]
    lists: dict[Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$")], _Prefixes] = {}
    match: Annotated[list[_FormSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _checked(self) -> Self:
        for name, words in self.lists.items():
            _check_texts(words, f"list {name!r}")
        used: set[str] = set()
        for number, form in enumerate(self.match, 1):
            try:
                used |= form.check_regexes(self.lists)
            except ValueError as exc:
                raise ValueError(f"match #{number}: {exc}") from None
        if unused := sorted(set(self.lists) - used):
            raise ValueError(f"list {unused[0]!r} is used by no form (write {{{{{unused[0]}}}}} in a regex)")
        return self


def _check_texts(texts: list[str], what: str) -> None:
    """Literal texts (prefixes, a list's words): each listed once, and lower case like the text they meet."""
    if len(set(texts)) < len(texts):
        twice = next(text for text in texts if texts.count(text) > 1)
        raise ValueError(f"{what}: {twice!r} is listed twice")
    for text in texts:
        if text != text.lower():
            raise ValueError(f"{what}: {text!r} has capitals, but the text it is matched against is lower-cased")


def _check_regex(regex: str, field: str, flags: int) -> None:
    try:
        compiled = re.compile(regex, flags)
    except re.error as exc:
        raise ValueError(f"{field} is not a valid regex ({exc}): {regex!r}") from None
    if compiled.groups:
        raise ValueError(f"{field} captures a group, which the index cannot use: write (?:...) in {regex!r}")
    if compiled.flags != re.compile("", flags).flags:
        raise ValueError(f"{field} sets a flag for the whole pattern: write (?i:...) around what it applies to")
