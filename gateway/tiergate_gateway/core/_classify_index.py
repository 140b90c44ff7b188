"""Find every keyword cue of the vocabulary in a text with one compiled pattern.

Python's `re` tries the branches of an alternation one after the other, so one pattern per cue
costs milliseconds, and a Python loop over the words of a text costs a few hundred nanoseconds
per word before it tests anything. Here every prefix of every cue's forms (`_classify_vocabulary`)
is woven into a single pattern shaped like a prefix tree of those literal texts:

- the pattern is searched for as a separator (`\\W`) followed by the tree, so the engine skips
  from separator to separator; the first token is tried apart;
- after a separator it walks the tree a character at a time, so a word that starts like no cue
  fails after a letter or two, inside the regex engine;
- at a node where prefixes end, the rest of their forms is tried as one look-ahead; a node
  succeeds only if it matches, else the engine backs up to the nearest ancestor that does, or
  gives up at this position. So a search stops, and costs Python time, only at words where some
  cue fires, and the text it consumed names the node.

The pattern has no groups (a match object costs time in proportion to them), so a stop says
where, not which cue: a node with one cue means that cue; where a node could mean several (its
own, or those of shorter prefixes on its path, as "write" does), each is checked on its own.

Where each form is tried (what `CueScanner.scan` finds is where the forms' own patterns,
`Form.pattern`, match; `tests/unit/test_classify_index.py` checks it):

- `words` forms at every token start, with `re.MULTILINE`;
- `cjk` forms wherever their first character occurs, without flags;
- `number` forms at every token that starts with a digit, with `re.MULTILINE`;
- `start` forms at the start of the text only, without flags.

A cue's word lists (`{{name}}` in its regexes) are spelled as prefix trees too
(`literal_alternation`): `re` tries an alternation's branches one by one, and a look-ahead such
as "write ... within five words of one of 70 kinds of piece" runs at every "write". The
vocabulary's loader checks what the weaving relies on (prefixes that start a token or with a CJK
character, no capturing groups), so nothing here reads regex syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tiergate_gateway.core._classify_vocabulary import Cue, Form

__all__ = ["CueScanner", "build_scanner", "literal_alternation"]

_DIGIT = re.compile(r"\d")
# Root branches in rough order of how often English words start with each letter: the engine
# tries a node's branches in order, so common first letters should not wait behind rare ones.
_FIRST_LETTER_ORDER = "tasowicbphfmdrelnguvyjkqz"
_ROOT_GROUP = 9

_Check = tuple[int, re.Pattern[str], int]
"""A cue to check at a stop: its index, the rest of its forms there, and how many characters
after the token start that rest begins (the length of the node's prefix)."""
_Stop = tuple[int | None, tuple[_Check, ...]]
"""What a stop at a node means: the cue that surely fired there (if the node has one cue), and
the other cues on the node's path, which may or may not have."""


@dataclass(frozen=True, slots=True)
class CueScanner:
    """The keyword cues compiled into patterns for token starts and for CJK text."""

    cues: tuple[Cue, ...]
    first_token: re.Pattern[str]
    """The prefix tree, tried at the start of the text."""
    tokens: re.Pattern[str]
    """A non-word character and the prefix tree after it: searching for it lets the engine
    skip from separator to separator instead of testing every character for a token start."""
    token_stops: dict[str, _Stop]
    cjk: re.Pattern[str]
    cjk_stops: dict[str, _Stop]
    at_start: tuple[tuple[int, re.Pattern[str]], ...]

    def scan(self, lowered: str, has_cjk: bool) -> list[int]:
        """Indexes (into `cues`, ascending) of the cues that fire in a lower-cased text.

        `has_cjk` says whether the text holds any CJK character; without one the CJK pattern
        cannot match and is not run.
        """
        fired: set[int] = set()
        stops = self.token_stops
        match = self.first_token.match(lowered)
        if match is not None:
            _record(stops[match.group()], lowered, 0, fired)
        search = self.tokens.search
        match = search(lowered)
        while match is not None:
            start = match.start() + 1
            _record(stops[lowered[start : match.end()]], lowered, start, fired)
            match = search(lowered, start)
        if has_cjk:
            search, stops = self.cjk.search, self.cjk_stops
            match = search(lowered)
            while match is not None:
                start = match.start()
                _record(stops[match.group()], lowered, start, fired)
                match = search(lowered, start + 1)
        for cue_index, pattern in self.at_start:
            if pattern.match(lowered) is not None:
                fired.add(cue_index)
        return sorted(fired)


def _record(stop: _Stop, text: str, start: int, fired: set[int]) -> None:
    """Add the cues of a stop at `start`, checking each one the pattern leaves in doubt.

    The patterns have no groups (a match object costs time in proportion to them), so they say
    which node they stopped at, not which cues matched there: where that is ambiguous (several
    cues on the node's path, as for "write"), each is checked on its own.
    """
    surely, checks = stop
    if surely is not None:
        fired.add(surely)
    for cue_index, rest, offset in checks:
        if cue_index not in fired and rest.match(text, start + offset) is not None:
            fired.add(cue_index)


def build_scanner(cues: Sequence[Cue]) -> CueScanner:
    """Weave every form of every cue into the scanner's patterns."""
    token_tree: dict[str, dict[int, list[str]]] = {}
    cjk_tree: dict[str, dict[int, list[str]]] = {}
    digit_rests: dict[int, list[str]] = {}
    at_start: list[tuple[int, re.Pattern[str]]] = []
    for cue_index, cue in enumerate(cues):
        for form in cue.forms:
            spelled = form.spelled(form.rest, literal_alternation)
            rest = f"(?:{spelled})" if spelled else ""
            if form.place == "start":
                at_start.append((cue_index, re.compile(spelled)))
            elif form.place == "number":
                digit_rests.setdefault(cue_index, []).append(form.lookbehind + rest)
            else:
                tree = token_tree if form.place == "word" else cjk_tree
                for prefix in form.prefixes:
                    tree.setdefault(prefix, {}).setdefault(cue_index, []).append(_anchored(form, prefix) + rest)

    # Number forms belong to the root: tried at tokens that start with a digit, after any branch there.
    if digit_rests:
        token_tree[""] = digit_rests
    token_weaver = _Weaver(token_tree, re.MULTILINE)
    branches = _gated(token_weaver.branches("", [], digit_path=[("", cue_index) for cue_index in sorted(digit_rests)]))
    if digit_rests:
        token_weaver.add_stop("", [], digit_rests)
        branches.append("(?=\\d)" + _any_matches(digit_rests))
    cjk_weaver = _Weaver(cjk_tree, 0)
    token_pattern = _alternation(branches)
    return CueScanner(
        cues=tuple(cues),
        first_token=re.compile(token_pattern, re.MULTILINE),
        tokens=re.compile("\\W" + token_pattern, re.MULTILINE),
        token_stops=token_weaver.stops,
        cjk=re.compile(_alternation([branch for _, branch in cjk_weaver.branches("", [])])),
        cjk_stops=cjk_weaver.stops,
        at_start=tuple(at_start),
    )


def _anchored(form: Form, prefix: str) -> str:
    """The form's look-behinds, meant for where its prefix starts, rewritten for where it ends.

    The scanner checks a form's rest at the end of its prefix, so "not after `user `" at the start
    of "stor" becomes "not after `user stor`" there.
    """
    literal = re.escape(prefix)
    after, not_after = form.spelled(form.after), form.spelled(form.not_after)
    return (f"(?<=(?:{after}){literal})" if after else "") + (f"(?<!(?:{not_after}){literal})" if not_after else "")


class _Weaver:
    """Writes a prefix tree of literal texts as regex text, and the meaning of each stop."""

    def __init__(self, tree: dict[str, dict[int, list[str]]], flags: int) -> None:
        self.tree = tree
        self.flags = flags
        self.stops: dict[str, _Stop] = {}
        self._checks: dict[tuple[str, int], _Check] = {}
        self._next_chars: dict[str, set[str]] = {}
        for literal in tree:
            for depth, char in enumerate(literal):
                self._next_chars.setdefault(literal[:depth], set()).add(char)

    def branches(
        self, key: str, path: list[tuple[str, int]], digit_path: list[tuple[str, int]] | None = None
    ) -> list[tuple[str, str]]:
        """(next character, regex branch) for each child of node `key`.

        `digit_path`: cues that join the path of the children whose character is a digit.
        """
        children = []
        for char in sorted(self._next_chars.get(key, ()), key=_branch_order):
            child_path = path + digit_path if digit_path and _DIGIT.match(char) else path
            children.append((char, re.escape(char) + self._node(key + char, child_path)))
        return children

    def _node(self, key: str, path: list[tuple[str, int]]) -> str:
        """Node `key`: its children first, then whether one of its own cues matches here.

        A node none of whose own cues match fails, so the engine backs up to the nearest
        ancestor that has a match, or gives up at this position.
        """
        own = self.tree.get(key, {})
        branches = [branch for _, branch in self.branches(key, path + [(key, cue_index) for cue_index in sorted(own)])]
        if own:
            self.add_stop(key, path, own)
            branches.append(_any_matches(own))
        return _alternation(branches)

    def add_stop(self, key: str, path: list[tuple[str, int]], own: dict[int, list[str]]) -> None:
        surely = next(iter(own)) if len(own) == 1 else None
        maybe = path + [(key, cue_index) for cue_index in sorted(own) if cue_index != surely]
        self.stops[key] = (surely, tuple(self._check(node, cue_index) for node, cue_index in maybe))

    def _check(self, node: str, cue_index: int) -> _Check:
        check = self._checks.get((node, cue_index))
        if check is None:
            rests = self.tree[node][cue_index]
            pattern = re.compile("|".join(f"(?:{rest})" for rest in rests), self.flags)
            check = self._checks[node, cue_index] = (cue_index, pattern, len(node))
        return check


def _any_matches(rests_by_cue: dict[int, list[str]]) -> str:
    """A look-ahead that succeeds if any of the rests matches (cheapest-looking first)."""
    rests = sorted({rest for rests in rests_by_cue.values() for rest in rests}, key=lambda rest: (len(rest), rest))
    if rests[0] == "":  # the prefix alone is a whole form
        return ""
    return "(?=" + "|".join(f"(?:{rest})" for rest in rests) + ")"


def _gated(children: list[tuple[str, str]]) -> list[str]:
    """The root's branches, in groups behind a test of the first character.

    The engine tries branches in turn: a word that starts with "t" and matches nothing under
    it is still compared with every later first character. Testing a group's characters first
    lets it skip nine ASCII letters, or every non-ASCII one, at a time.
    """
    ascii_chars = [(char, branch) for char, branch in children if char.isascii()]
    others = [(char, branch) for char, branch in children if not char.isascii()]
    groups = [ascii_chars[at : at + _ROOT_GROUP] for at in range(0, len(ascii_chars), _ROOT_GROUP)]
    if others:
        groups.append(others)
    return [
        "(?=[" + "".join(re.escape(char) for char, _ in group) + "])" + _alternation([branch for _, branch in group])
        for group in groups
    ]


def _alternation(branches: list[str]) -> str:
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" if branches else "(?!)"


def _branch_order(char: str) -> tuple[int, int]:
    rank = _FIRST_LETTER_ORDER.find(char)
    return (0, rank) if rank >= 0 else (1, ord(char))


def literal_alternation(words: Iterable[str]) -> str:
    """A group matching exactly the given strings, factored into a prefix tree.

    `re` tries an alternation's branches one by one; a tree of single characters lets it give
    up on a word after a letter or two instead of after every branch.
    """

    def tree(suffixes: list[str]) -> str:
        by_first: dict[str, list[str]] = {}
        for suffix in suffixes:
            if suffix:
                by_first.setdefault(suffix[0], []).append(suffix[1:])
        branches = [re.escape(char) + tree(rest) for char, rest in by_first.items()]
        ends_here = "" in suffixes
        if len(branches) == 1 and not ends_here:
            return branches[0]
        if not branches:
            return ""
        return "(?:" + "|".join(branches) + (")?" if ends_here else ")")

    words = sorted(set(words))
    if not words or "" in words:
        raise ValueError("literal_alternation needs non-empty strings")
    return "(?:" + tree(words) + ")"
