"""Find every keyword cue of `_classify_cues` in a text with one compiled pattern.

Python's `re` tries the branches of an alternation one after the other, so one pattern per cue
costs milliseconds, and a Python loop over the words of a text costs a few hundred nanoseconds
per word before it tests anything. Here every top-level alternative of every cue is woven into a
single pattern shaped like a prefix tree of the literal text the alternatives start with:

- the pattern is searched for as a separator (`\\W`) followed by the tree, so the engine skips
  from separator to separator; the first token is tried apart;
- after a separator it walks the tree a character at a time, so a word that starts like no cue
  fails after a letter or two, inside the regex engine;
- at a node where alternatives' literal text ends, the rest of those alternatives is tried as one
  look-ahead; a node succeeds only if it matches, else the engine backs up to the nearest
  ancestor that does, or gives up at this position. So a search stops, and costs Python time,
  only at words where some cue fires, and the text it consumed names the node.

The pattern has no groups (a match object costs time in proportion to them), so a stop says
where, not which cue: a node with one cue means that cue; where a node could mean several (its
own, or those of shorter literals on its path, as "write" does), each is checked on its own.

Where each alternative is tried (what `CueScanner.scan` finds; `tests/unit/test_classify_index.py`
checks it against a direct reading of these rules):

- `\\b...` alternatives at every token start, with `re.MULTILINE`;
- alternatives starting with a CJK character wherever that character occurs, without flags;
- `^...` alternatives at the start of the text only, without flags.

One quirk of the first index is kept so that decisions stay exactly as they were: a `\\b`
alternative spelled with a literal digit at its start (`\\b1 word`) never fires, because tokens
starting with a digit were only ever tried against the alternatives that start with `\\d`.

The filing rules of `_classify_cues` (a word boundary and two literal letters, a CJK character or
`^` at the start; no capturing groups) are checked here, when the scanner is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tiergate_gateway.core._classify_cues import KEYWORD_CUES, WORD, Cue

__all__ = ["CueScanner", "build_scanner", "literal_alternation", "split_alternatives"]

_CJK_START = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_DIGIT = re.compile(r"\d")
# Where an alternative is tried: see the module docstring.
_AT_TOKEN, _AT_DIGIT, _ANYWHERE, _AT_START, _NEVER = "token", "digit", "anywhere", "start", "never"
# Root branches in rough order of how often English words start with each letter: the engine
# tries a node's branches in order, so common first letters should not wait behind rare ones.
_FIRST_LETTER_ORDER = "tasowicbphfmdrelnguvyjkqz"
_ROOT_GROUP = 9

_Check = tuple[int, re.Pattern[str], int]
"""A cue to check at a stop: its index, the rest of its alternatives, and how many characters
after the token start that rest begins (the length of the node's literal text)."""
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


def build_scanner(cues: tuple[Cue, ...] = KEYWORD_CUES) -> CueScanner:
    """Weave every alternative of every cue into the scanner's patterns."""
    token_tree: dict[str, dict[int, list[str]]] = {}
    cjk_tree: dict[str, dict[int, list[str]]] = {}
    digit_rests: dict[int, list[str]] = {}
    at_start: list[tuple[int, re.Pattern[str]]] = []
    for cue_index, place, body in _filed(cues):
        if place == _AT_START:
            at_start.append((cue_index, re.compile(body)))
        elif place == _AT_DIGIT:
            digit_rests.setdefault(cue_index, []).append(_cheaper(body))
        elif place != _NEVER:
            lookbehinds, literal, rest = _split_literal(body)
            if not literal:
                raise ValueError(f"cue alternative {body!r} must start with literal text")
            tree = token_tree if place == _AT_TOKEN else cjk_tree
            rest = _anchor(lookbehinds, literal) + _cheaper(rest)
            tree.setdefault(literal, {}).setdefault(cue_index, []).append(rest)

    # `\d` cues belong to the root: tried at tokens that start with a digit, after any branch there.
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
        cues=cues,
        first_token=re.compile(token_pattern, re.MULTILINE),
        tokens=re.compile("\\W" + token_pattern, re.MULTILINE),
        token_stops=token_weaver.stops,
        cjk=re.compile(_alternation([branch for _, branch in cjk_weaver.branches("", [])])),
        cjk_stops=cjk_weaver.stops,
        at_start=tuple(at_start),
    )


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
    if rests[0] == "":  # the literal text alone is a whole alternative
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


def _filed(cues: tuple[Cue, ...]) -> Iterator[tuple[int, str, str]]:
    """(cue index, where it is tried, pattern) for every alternative of every cue."""
    for cue_index, cue in enumerate(cues):
        if re.compile(cue.pattern).groups:
            raise ValueError(f"cue {cue.name} must not use capturing groups")
        for alternative in _split_top(cue.pattern):
            for alt in _expand(alternative):
                place, body = _place(alt)
                yield cue_index, place, body


def _place(alt: str) -> tuple[str, str]:
    """Where one alternative is tried, and the pattern to try there (`\\b` taken off)."""
    if alt.startswith("^"):
        return _AT_START, alt
    if not alt.startswith("\\b"):
        prefix = _literal_prefix(alt)
        if not (prefix and _CJK_START.match(prefix)):
            raise ValueError(f"cue alternative {alt!r} must start at a word boundary, a CJK character or ^")
        return _ANYWHERE, alt
    body = alt[2:]
    if _skip_lookbehinds(body).startswith("\\d"):
        return _AT_DIGIT, body
    prefix = _literal_prefix(body)
    run = WORD.match(prefix)
    if run is None:
        raise ValueError(f"cue alternative {alt!r} must start with literal word characters")
    word = run.group()
    if len(word) < 3 and len(word) == len(prefix):
        # The word may go on ("go" in "goroutine"): tried wherever a token starts with it.
        if len(word) < 2:
            raise ValueError(f"cue alternative {alt!r} needs at least two literal letters to be indexed")
        return _AT_TOKEN, body
    # The first index filed this under the word's first three characters, and looked up
    # tokens that start with a digit under "0" only (the quirk in the module docstring).
    key = word[:3]
    if key == "0":
        return _AT_DIGIT, body
    return (_NEVER if key[0].isdigit() else _AT_TOKEN), body


def _split_literal(body: str) -> tuple[list[str], str, str]:
    """The look-behinds a pattern opens with, the literal text every match starts with, the rest.

    The literal stops before any character a quantifier applies to, so the rest is a pattern.
    """
    lookbehinds: list[str] = []
    while body.startswith(("(?<!", "(?<=")):
        end = _group_end(body, 0)
        lookbehinds.append(body[: end + 1])
        body = body[end + 1 :]
    literal: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1 : index + 2]
            if not escaped or escaped.isalnum():
                break
            text, step = escaped, 2
        elif char in "()[]{}?*+|^$.":
            break
        else:
            text, step = char, 1
        if body[index + step : index + step + 1] in ("?", "*", "+", "{"):
            break
        literal.append(text)
        index += step
    return lookbehinds, "".join(literal), body[index:]


def _anchor(lookbehinds: list[str], literal: str) -> str:
    """Look-behinds meant for the token start, rewritten for the end of its literal text."""
    return "".join(f"{lb[:4]}(?:{lb[4:-1]}){re.escape(literal)})" for lb in lookbehinds)


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


# --- Rewrites that keep what a rest matches and cost the engine less ------------------------
# A rest is only ever asked whether it matches at a position (in a look-ahead or with `match`),
# never what it matched, so any rewrite that keeps the set of strings it can match will do.

# "Up to n words later" (`_classify_cues._NEAR`): each `\W+` must take a whole run of non-word
# characters and each `\w+` a whole word (the next item starts with `\W`), so giving back
# characters never helps; possessive runs spare the engine from trying.
_NEAR_WORDS = re.compile(r"\(\?:\\W\+\\w\+\)(\{\d*,\d*\}\??)(?=\\W\+)")
# A word list is spelled out only if each of its words has at most this many spellings.
_MAX_SPELLINGS = 64


def _cheaper(rest: str) -> str:
    """`rest`, with word-skipping runs made possessive and plain word lists made prefix trees."""
    rest = _NEAR_WORDS.sub(lambda m: r"(?:\W++\w++)" + m.group(1), rest)
    out: list[str] = []
    done = 0
    for opening, char, _ in _structure(rest):
        if char != "(" or opening < done or not rest.startswith("(?:", opening):
            continue
        closing = _group_end(rest, opening)
        words = _plain_words(rest[opening + 3 : closing])
        if words is not None and len(words) >= 4:
            out.append(rest[done:opening] + literal_alternation(words))
            done = closing + 1
    out.append(rest[done:])
    return "".join(out)


def _plain_words(alternation: str) -> list[str] | None:
    """The strings an alternation of plain words spells (`x?` and `[ab]` spelled out), if it is one."""
    words: list[str] = []
    for arm in _split_top(alternation):
        spelled = [""]
        index = 0
        while index < len(arm):
            char = arm[index]
            if char == "\\" and index + 1 < len(arm) and not arm[index + 1].isalnum():
                options, index = [arm[index + 1]], index + 2
            elif char == "[" and "]" in arm[index + 2 :]:
                end = arm.index("]", index + 2)
                options, index = list(arm[index + 1 : end]), end + 1
                if any(c in options for c in "\\-^["):
                    return None
            elif char in "\\()[]{}|?*+^$.":
                return None
            else:
                options, index = [char], index + 1
            if arm[index : index + 1] == "?":
                options, index = [*options, ""], index + 1
            if arm[index : index + 1] in ("?", "*", "+", "{"):
                return None
            spelled = [done + option for done in spelled for option in options]
            if len(spelled) > _MAX_SPELLINGS:
                return None
        words.extend(spelled)
    return words if "" not in words else None


# --- Reading cue patterns: where an alternative starts and what it starts with --------------


def _structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each unescaped character outside `[...]` classes, with the group depth after it."""
    depth, index, in_class = 0, start, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        else:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            yield index, char, depth
        index += 1


def split_alternatives(pattern: str) -> list[str]:
    """A pattern's top-level alternatives: a text matches the pattern where it matches one of them."""
    return _split_top(pattern)


def _split_top(pattern: str) -> list[str]:
    """Split a pattern at its top-level `|`."""
    parts: list[str] = []
    start = 0
    for index, char, depth in _structure(pattern):
        if char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
    parts.append(pattern[start:])
    return parts


def _group_end(pattern: str, opening: int) -> int:
    """Index of the `)` closing the group that opens at `opening`."""
    for index, char, depth in _structure(pattern, opening):
        if char == ")" and depth == 0:
            return index
    raise ValueError(f"unbalanced group in {pattern!r}")


def _expand(alternative: str) -> list[str]:
    """Distribute what an alternative starts with: `\\b(?:a|b)?c` gives `\\bac`, `\\bbc`, `\\bc`.

    Leading groups (optional or not) and leading character classes of plain characters are
    spelled out, so that each resulting alternative starts with literal text to index.
    """
    head = "\\b" if alternative.startswith("\\b") else ""
    body = alternative[len(head) :]
    if body.startswith("(?:"):
        end = _group_end(body, 0)
        after = body[end + 1 :]
        parts = _split_top(body[3:end])
        if after.startswith("?") and not after.startswith("??"):
            parts, after = [*parts, ""], after[1:]
        elif after.startswith(("?", "*", "+", "{")):
            return [alternative]
        return [x for part in parts for x in _expand(head + part + after)]
    if body.startswith("[") and not body.startswith("[^"):
        end = body.find("]")
        members = body[1:end]
        after = body[end + 1 :]
        plain = end > 1 and not any(c in members for c in "\\-^") and not after.startswith(("?", "*", "{"))
        if plain:
            return [x for member in members for x in _expand(head + re.escape(member) + after)]
    return [alternative]


def _skip_lookbehinds(body: str) -> str:
    while body.startswith(("(?<!", "(?<=")):
        body = body[_group_end(body, 0) + 1 :]
    return body


def _literal_prefix(body: str) -> str:
    """The literal text every match of `body` starts with (look-behinds skipped)."""
    body = _skip_lookbehinds(body)
    prefix: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1 : index + 2]
            if not escaped or escaped.isalnum():
                break
            literal, step = escaped, 2
        elif char in "()[]{}?*+|^$.":
            break
        else:
            literal, step = char, 1
        if body[index + step : index + step + 1] in ("?", "*", "{"):
            break
        prefix.append(literal)
        index += step
    return "".join(prefix)
