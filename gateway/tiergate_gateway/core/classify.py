"""Infer a request's task type from its messages, when no `x-tiergate-task` header names it.

The router needs the task before it can pick the smallest capable tier, on every request, in
well under a millisecond and without downloading a model. So the evidence comes from a
weighted-cue scorer: named keyword cues in several languages (the vocabulary: data files in
`vocabulary/`, described in docs/classifier.md), plus structure a model-free reader can see (code
fences and code-shaped lines, stack traces, SQL, a document pasted after a short instruction,
option lists such as "A, B or C", numbers and maths). Each cue adds a weight to one task; Chat
starts with a small prior and wins when nothing else speaks up. A learned head
(`_classify_learned.py`, trained on the corpus's train split) then weighs the cue scores and the
cues with the text's byte n-grams and decides. The cues that fired and the head's probability per
task are returned, so every decision is explainable.

Where the cues are read:
- the last user message, split into its *instruction* (the short request) and its *payload*
  (pasted text, quoted passages, code blocks). Keywords count only in the instruction, so a
  pasted article that happens to say "write" or "function" does not steer the decision;
  the payload contributes structure only (code shape, a long document, field-like lines);
- the system prompt, at a lower weight (a persona such as "You are a ticket router");
- earlier user turns, lightly when the last turn stands on its own, fully when it is a short
  follow-up ("now make it shorter") or a bare paste, so follow-ups inherit the task. A last
  turn made only of thanks or greetings is Chat whatever came before.

Long messages are scanned only at the head and tail (`_HEAD_CHARS`, `_TAIL_CHARS`), which
bounds the cost however large a pasted document is. The module is pure: no I/O but reading the
vocabulary once, at import, and no state but a bounded memo of the cues of recent system prompts
(`_system_cues`, a function of the text).

This runs on every request (docs/performance.md has the figures), so the hot path avoids what
costs in CPython: keyword cues are found by one compiled pattern (`_classify_index`) instead of
a loop over words; a pattern is run only after a cheap test shows it can match (a digit, a run
of capitals, a second slash); lists of literals are tested with `map(text.__contains__, ...)`.
None of this changes a decision: `tests/unit/test_classify_golden.py` pins every one of them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

from tiergate_api.enums import Task
from tiergate_gateway.core import _classify_cues as cues_
from tiergate_gateway.core._classify_index import build_scanner, literal_alternation
from tiergate_gateway.core._classify_learned import TASK_ORDER, load_head
from tiergate_gateway.core._classify_vocabulary import built_in_vocabulary

__all__ = ["Classification", "classify_messages", "classify_prompt", "cue_evidence"]


@dataclass(frozen=True, slots=True)
class Classification:
    """The inferred task, how sure the classifier is (0..1), and the cues that decided it."""

    task: Task
    confidence: float
    cues: tuple[str, ...]
    learned: tuple[tuple[str, float], ...] = ()
    """The learned head's probability per task, highest first (tasks under 1% left out); () without a head."""


# How much of a message is read at all: its head and its tail, joined.
_HEAD_CHARS = 3000
_TAIL_CHARS = 1000
_SYSTEM_CHARS = 800
# Splitting a message: a message this short is all instruction unless it announces a paste;
# longer paragraphs than these are pasted text, not the request.
_SHORT_MESSAGE = 300
_MAX_INSTRUCTION_HEAD = 400
_MAX_INSTRUCTION_TAIL = 300
_ANNOUNCES = (":", "：", "?", "？")
# A long prompt with no pasted part is read at its opening and its close.
_GLIMPSE_HEAD = 300
_GLIMPSE_TAIL = 200
_MIN_PASTE = 60
_MIN_PASTE_ANNOUNCED = 20
# Pasted prose at least this long is a document.
_LONG_DOCUMENT = 250
# A paste this short may be the request itself ("my idea:" then the idea), so its words count a little.
_PAYLOAD_WHISPER_CHARS = 600
_PAYLOAD_WHISPER_WEIGHT = 0.35
# Structure (code shape, field lines) is read from this much of a text, and this many lines.
_SAMPLE_HEAD = 1200
_SAMPLE_TAIL = 400
_MAX_LINES = 60
# An option list ("A, B or C") is looked for this far before its "or".
_CHOICE_WINDOW = 160
# Where else the cues come from, and how much they count.
_SYSTEM_WEIGHT = 0.7
# Distinct system prompts whose cues are remembered (each at most `_SYSTEM_CHARS` long).
_SYSTEM_PROMPTS_REMEMBERED = 256
_MAX_CONTEXT_TURNS = 2
_MAX_MESSAGES_SCANNED = 24
# Earlier turns add at most this much to any task, so history never drowns a clear request.
_CONTEXT_CAP = 3.0
# Chat's head start: it wins when nothing else speaks up, less so next to a paste or a long prompt.
_CHAT_PRIOR = 1.0
_CHAT_PRIOR_WITH_PAYLOAD = 0.3
_CHAT_PRIOR_LONG_PROMPT = 0.5
_MAX_CUES_REPORTED = 10
_FALLBACK = Classification(Task.CHAT, 0.05, ("no_user_message",))
_SMALL_TALK = Classification(Task.CHAT, 0.9, ("smalltalk",))
_THANKS = Classification(Task.CHAT, 0.8, ("smalltalk",))

_SCANNER = build_scanner(built_in_vocabulary())
_HEAD = load_head()
_LEARNED_ORDER = TASK_ORDER
_LEARNED_SHOWN = 0.01
_KEYWORD_CUES = tuple((cue.name, cue.task, cue.weight) for cue in _SCANNER.cues)
_TASKS = tuple(Task)
# Ties (rare with float weights) go to the task whose mistakes cost least to route.
_TIE_ORDER = (
    Task.CHAT,
    Task.CLASSIFICATION,
    Task.EXTRACTION,
    Task.SUMMARIZATION,
    Task.CODE_GENERATION,
    Task.CREATIVE_WRITING,
    Task.REASONING,
)
_PROSE_FENCE_TAGS = frozenset({"", "text", "txt", "plain", "md", "markdown", "csv", "json", "log"})
_CODE_EVIDENCE = frozenset({"code_fence", "code_lines", "stack_trace", "sql"})
_STACK_FRAME_HINTS = ('File "', "\tat ", "    at ")


class _AnyOf:
    """Whether a text contains any of some literals, in fewer passes over it than one per literal.

    A literal holding a character that prose seldom has (punctuation, a capital) is found by one
    pattern led by that character, the rest of the literal checked around it, so `re` can skip
    from one such character to the next; the other literals are tested one by one.
    """

    __slots__ = ("_led", "_plain")

    def __init__(self, literals: tuple[str, ...]) -> None:
        led: list[str] = []
        plain: list[str] = []
        for literal in literals:
            at = max(range(len(literal)), key=lambda i: _rarity(literal[i]))
            if not _rarity(literal[at]):
                plain.append(literal)
                continue
            before = f"(?<={re.escape(literal[: at + 1])})" if at else ""
            led.append(re.escape(literal[at]) + before + re.escape(literal[at + 1 :]))
        self._led = re.compile("|".join(led)) if led else None
        self._plain = tuple(plain)

    def __call__(self, text: str) -> bool:
        return (self._led is not None and self._led.search(text) is not None) or any(
            map(text.__contains__, self._plain)
        )


def _rarity(char: str) -> int:
    if char.islower() or char.isdigit() or char in " \n":
        return 0
    return 1 if char.isupper() else 2


# Every literal `_has_stack_trace`, the SQL test and the shell test look for.
_HAS_CODE_SHAPE_LITERAL = _AnyOf(
    (
        *cues_.STACK_TRACE_LITERALS, "Error: ", "Exception: ", *_STACK_FRAME_HINTS,
        *cues_.SQL_HINTS, *cues_.SHELL_LITERALS,
    )
)

# Cheap tests that must pass before a costlier pattern can match (each implied by the pattern).
_DIGIT = re.compile(r"\d")  # NUMBER, ARITHMETIC and UNIT_QUANTITY all need one
_CAPS_RUN = re.compile(r"[A-Z][A-Z_]{2}")  # CAPS_LABELS needs one
_QUOTE_MARKS = re.compile("[\"“«„「]")  # QUOTED needs one
# `_line_shapes`: the line starts that mark code, by first character; any code operator.
_CODE_LINE_STARTS = {
    first: tuple(start for start in cues_.CODE_LINE_STARTS if start[0] == first)
    for first in {start[0] for start in cues_.CODE_LINE_STARTS}
}
_CODE_OPERATOR = re.compile(literal_alternation(cues_.CODE_OPERATORS))
# Every choice word (" or ", " oder ", " o "...) contains one of these, so their absence rules all out.
_CHOICE_WORD_STEMS = tuple({word[:2] for word in cues_.CHOICE_WORDS})
# A text made only of small-talk tokens (1 to 12 of them): `_is_small_talk` in one match.
# (A listed token that is not a whole `\w+` word could never equal a token, so it is left out.)
_SMALL_TALK_ONLY = re.compile(
    r"\W*(?:"
    + literal_alternation(t for t in cues_.SMALL_TALK_TOKENS if cues_.WORD.fullmatch(t))
    + r"(?!\w)\W*){1,12}"
)


class _Evidence:
    """Scores per task and the named contributions behind them."""

    __slots__ = ("fired", "instruction", "scores")

    def __init__(self) -> None:
        self.scores: dict[Task, float] = dict.fromkeys(_TASKS, 0.0)
        self.fired: dict[str, tuple[Task, float]] = {}
        self.instruction = ""
        """The last turn's request without its pasted payload (for the learned head)."""

    def add(self, name: str, task: Task, weight: float) -> None:
        self.scores[task] += weight
        before = self.fired.get(name)
        self.fired[name] = (task, (0.0 if before is None else before[1]) + weight)

    def merge(self, other: _Evidence, scale: float, prefix: str) -> None:
        scores, fired = self.scores, self.fired
        for name, (task, weight) in other.fired.items():
            weight *= scale
            name = prefix + name
            scores[task] += weight
            before = fired.get(name)
            fired[name] = (task, (0.0 if before is None else before[1]) + weight)

    def top_non_chat(self) -> float:
        return max(v for t, v in self.scores.items() if t is not Task.CHAT)


class _LineShapes(NamedTuple):
    """What the first lines of a message look like, counted once per message."""

    code: int
    key_value: int
    speakers: int


class _Turn(NamedTuple):
    """One message, split into what the user asks and what they pasted."""

    full: str
    instruction: str
    payload: str
    long_prompt: bool
    lowered: str  # the instruction, lower-cased once


def classify_prompt(prompt: str) -> Classification:
    """Classify a bare prompt (`/v1/completions`, `tiergate explain`) as a single user turn."""
    if not isinstance(prompt, str):
        return _FALLBACK
    return classify_messages([{"role": "user", "content": prompt}])


def classify_messages(messages: Sequence[Mapping[str, Any]]) -> Classification:
    """Classify an OpenAI chat conversation; never raises, odd input falls back to Chat.

    The cue scorer reads the evidence; the learned head (`_classify_learned`), when the package ships
    one, weighs that evidence with the text's byte n-grams and decides. Its per-task probabilities
    are returned with the cues, so explain shows both."""
    found = _cue_evidence(messages)
    if isinstance(found, Classification):
        return found
    cued = _decide(found)
    if _HEAD is None:
        return cued
    scores = found.scores
    probabilities = _HEAD.probabilities(messages, [scores[t] for t in _LEARNED_ORDER], found.fired, found.instruction)
    ranked = sorted(zip(_LEARNED_ORDER, probabilities, strict=True), key=_minus_probability)
    task, confidence = ranked[0]
    learned = tuple((t.value, round(p, 3)) for t, p in ranked if p >= _LEARNED_SHOWN)
    if task is cued.task:
        return Classification(task, round(confidence, 3), cued.cues, learned)
    # The head overruled the cues: list the cues that spoke for its task first.
    own = [name for name, (cue_task, weight) in found.fired.items() if cue_task is task and weight > 0]
    rest = [name for name in cued.cues if name not in own]
    return Classification(task, round(confidence, 3), tuple((own + rest)[:_MAX_CUES_REPORTED]), learned)


def cue_evidence(messages: Sequence[Mapping[str, Any]]) -> tuple[tuple[float, ...], tuple[str, ...], str] | None:
    """The cue scorer's per-task scores (in `Task` order) and the cues that fired; None for the shortcuts
    (no user turn, small talk, thanks), which need no weighing. For training the head."""
    found = _cue_evidence(messages)
    if isinstance(found, Classification):
        return None
    return tuple(found.scores[t] for t in _LEARNED_ORDER), tuple(found.fired), found.instruction


def _minus_probability(item: tuple[Task, float]) -> float:
    return -item[1]


def _cue_evidence(messages: Sequence[Mapping[str, Any]]) -> _Evidence | Classification:
    """The cue scorer's evidence, or a finished classification for the shortcuts."""
    if type(messages) is not list and (
        not isinstance(messages, Sequence) or isinstance(messages, str | bytes | bytearray)
    ):
        return _FALLBACK
    users, system = _collect(messages)
    if not users:
        return _FALLBACK
    if _is_small_talk(users[-1]):
        return _SMALL_TALK

    last = _split(users[-1])
    # The last turn's evidence becomes the total. Its cue names are all distinct, so merging it
    # into an empty evidence, weights times 1.0, would only have copied it.
    total = _score_turn(last)
    if _is_thanks(last, total):
        return _THANKS
    own_top = total.top_non_chat() if len(users) > 1 else 0.0
    if system:
        for name, task, weight in _system_cues(system):
            total.add("sys:" + name, task, weight * _SYSTEM_WEIGHT)
    if len(users) > 1:
        _add_context(total, own_top, last, users[:-1])

    prior = _CHAT_PRIOR
    if last.payload:
        prior = _CHAT_PRIOR_WITH_PAYLOAD
    elif last.long_prompt:
        prior = _CHAT_PRIOR_LONG_PROMPT
    total.scores[Task.CHAT] += prior
    total.instruction = last.instruction
    return total


@functools.lru_cache(maxsize=_SYSTEM_PROMPTS_REMEMBERED)
def _system_cues(system: str) -> tuple[tuple[str, Task, float], ...]:
    """The cues a system prompt carries, unscaled: keywords and offered label sets.

    Remembered for the last few distinct prompts (a pure function of the text, so this changes
    no decision): a deployment sends the same system prompt with request after request.
    """
    ev = _Evidence()
    lowered = system.lower()
    _score_keywords(lowered, ev)
    _score_labels(system, lowered, ev)
    return tuple((name, task, weight) for name, (task, weight) in ev.fired.items())


def _collect(messages: Sequence[Any]) -> tuple[list[str], str]:
    """The recent user turns (oldest first) and the system prompt, as plain text."""
    count = len(messages)
    system_parts: list[str] = []
    for index in range(min(count, 4)):
        message = messages[index]
        if (type(message) is dict or isinstance(message, Mapping)) and message.get("role") in ("system", "developer"):
            system_parts.append(_text_of(message.get("content")))
    users: list[str] = []
    for index in range(count - 1, max(-1, count - 1 - _MAX_MESSAGES_SCANNED), -1):
        message = messages[index]
        if (type(message) is dict or isinstance(message, Mapping)) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text.strip():
                users.append(text)
                if len(users) > _MAX_CONTEXT_TURNS:
                    break
    users.reverse()
    return users, "\n".join(p for p in system_parts if p)[:_SYSTEM_CHARS]


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return _cap(content)
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        texts: list[str] = []
        for part in islice(content, 32):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return _cap_joined(texts)
    return ""


def _cap(text: str) -> str:
    """Keep the head and tail of a long text: the instruction is nearly always at one end."""
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n\n" + text[-_TAIL_CHARS:]


def _cap_joined(texts: list[str]) -> str:
    """`_cap("\\n\\n".join(texts))`, without joining the middle of very long parts."""
    if sum(map(len, texts)) <= 4 * (_HEAD_CHARS + _TAIL_CHARS):
        return _cap("\n\n".join(texts))
    head = "\n\n".join(_shortened(texts, _HEAD_CHARS, at_end=False))[:_HEAD_CHARS]
    tail = "\n\n".join(_shortened(texts, _TAIL_CHARS, at_end=True))[-_TAIL_CHARS:]
    return head + "\n\n" + tail


def _shortened(texts: list[str], chars: int, at_end: bool) -> list[str]:
    """The parts the first (or last) `chars` characters of their join come from, cut to length."""
    parts: list[str] = []
    reach = -2  # how far into the join the parts taken so far reach
    for text in reversed(texts) if at_end else texts:
        parts.append(text[-chars:] if at_end else text[:chars])
        reach += 2 + len(text)
        if reach >= chars:
            break
    if at_end:
        parts.reverse()
    return parts


def _is_small_talk(text: str) -> bool:
    """Only thanks, greetings and the like: Chat whatever the conversation was about."""
    return len(text) <= 200 and _SMALL_TALK_ONLY.fullmatch(text.lower()) is not None


def _is_thanks(turn: _Turn, own: _Evidence) -> bool:
    """A short turn that opens with thanks and asks for nothing recognisable."""
    if turn.payload or cues_.THANKS_OPENER.match(turn.lowered) is None:
        return False
    return len(cues_.WORD.findall(turn.instruction)) <= 8 and own.top_non_chat() < 1.0


def _split(text: str) -> _Turn:
    """Separate the instruction from pasted material (code blocks, quotes, documents)."""
    payload: list[str] = [m.group(0) for m in cues_.CODE_FENCE.finditer(text)] if "```" in text else []
    rest = cues_.CODE_FENCE.sub("\n\n", text) if payload else text
    quotes = cues_.QUOTED.findall(rest) if _QUOTE_MARKS.search(rest) else None
    if quotes:
        payload.extend(quotes)
        rest = cues_.QUOTED.sub('"..."', rest)
    if "\n" not in rest:  # a single line: no paragraphs, so no pasted document either
        body = rest.strip()
    else:
        paragraphs = [stripped for p in cues_.PARAGRAPH_BREAK.split(rest) if (stripped := p.strip())]
        head, tail, documents = _instruction_ends(paragraphs)
        instruction = "\n\n".join(p for p in (head, tail) if p)
        pasted = sum(map(len, documents))
        if instruction and pasted >= (_MIN_PASTE_ANNOUNCED if head.endswith(_ANNOUNCES) else _MIN_PASTE):
            lowered = instruction.lower()
            points_at_text = bool(cues_.DEICTIC.search(lowered))
            if points_at_text or pasted >= max(_LONG_DOCUMENT, 2 * len(instruction)):
                return _Turn(text, instruction, "\n".join(payload + documents), False, lowered)
        body = "\n\n".join(paragraphs)
    if len(body) <= _SHORT_MESSAGE:
        return _Turn(text, body, "\n".join(payload), False, body.lower())
    # No instruction that points at pasted text: a long request in its own right.
    if len(body) > _GLIMPSE_HEAD + _GLIMPSE_TAIL:
        body = body[:_GLIMPSE_HEAD] + "\n" + body[-_GLIMPSE_TAIL:]
    return _Turn(text, body, "\n".join(payload), True, body.lower())


def _instruction_ends(paragraphs: list[str]) -> tuple[str, str, list[str]]:
    """The short paragraphs (or lines) at either end that read as a request, and the rest.

    A head that announces what follows ("...from this email:") makes a short last paragraph
    part of the pasted text unless it asks a question of its own.
    """
    if len(paragraphs) > 1:
        first, last = paragraphs[0], paragraphs[-1]
        head = first if len(first) <= _MAX_INSTRUCTION_HEAD else ""
        asks = last.endswith(("?", "？"))
        if head.endswith((":", "：")):
            tail_limit = _MAX_INSTRUCTION_TAIL if asks else 0
        elif head and cues_.DEICTIC.search(head.lower()):
            tail_limit = _MAX_INSTRUCTION_TAIL if asks else 150
        else:
            tail_limit = _MAX_INSTRUCTION_TAIL
        tail = last if len(last) <= tail_limit and last.count("\n") < 2 else ""
        return head, tail, paragraphs[1 if head else 0 : -1 if tail else None]
    if not paragraphs or "\n" not in paragraphs[0]:
        return "", "", []
    lines = paragraphs[0].split("\n")
    first, last = lines[0].strip(), lines[-1].strip()
    head = first if len(first) <= _MAX_INSTRUCTION_TAIL and first.endswith(_ANNOUNCES) else ""
    tail = last if len(last) <= _MAX_INSTRUCTION_TAIL and last.endswith(("?", "？")) else ""
    return head, tail, ["\n".join(lines[1 if head else 0 : -1 if tail else None])]


def _score_turn(turn: _Turn) -> _Evidence:
    """Keyword and structure evidence from one user message, without any context."""
    ev = _Evidence()
    lowered = turn.lowered
    words = frozenset(cues_.WORD.findall(lowered))
    _score_keywords(lowered, ev)
    _score_labels(turn.instruction, lowered, ev)
    sample = _sample(turn.full)
    shapes = _line_shapes(sample)
    _score_code_shape(sample, shapes, ev)
    _score_problem_shape(lowered, words, ev)
    if turn.payload:
        _score_payload(turn, lowered, words, shapes, ev)
    return ev


def _score_keywords(lowered: str, ev: _Evidence) -> None:
    """Every keyword cue found in a lower-cased text; each named cue counts once."""
    has_cjk = cues_.HAS_CJK.search(lowered) is not None
    if has_cjk:
        lowered = cues_.CJK_LATIN_SEAM.sub(" ", lowered)
    scores, fired = ev.scores, ev.fired
    for index in _SCANNER.scan(lowered, has_cjk):
        name, task, weight = _KEYWORD_CUES[index]
        if name not in fired:  # as `ev.add`, for a name not yet fired
            scores[task] += weight
            fired[name] = (task, 0.0 + weight)


def _score_labels(text: str, lowered: str, ev: _Evidence) -> None:
    """Label sets offered to choose from: "BILLING, TECHNICAL, OTHER", "cancel / refund / other"."""
    caps = _CAPS_RUN.search(text) is not None and cues_.CAPS_LABELS.search(text) is not None
    if caps or ("(" in text and cues_.CAPS_PAIR.search(text)):
        ev.add("caps_labels", Task.CLASSIFICATION, 2.0)
    slashes = lowered.count("/") > 1 and cues_.SLASH_OPTIONS.search(lowered)  # "a/b/c": two slashes at least
    if slashes or (lowered.count("|") > 1 and cues_.PIPE_OPTIONS.search(lowered)):
        ev.add("slash_options", Task.CLASSIFICATION, 1.5)


def _score_code_shape(text: str, shapes: _LineShapes, ev: _Evidence) -> None:
    """Code is recognisable by its shape in any human language."""
    fence = cues_.CODE_FENCE.search(text) if "```" in text else None
    if fence:
        ev.add("code_fence", Task.CODE_GENERATION, 1.5)
        if fence.group(1).lower() not in _PROSE_FENCE_TAGS:
            ev.add("fence_lang", Task.CODE_GENERATION, 1.0)
    if shapes.speakers >= 2:
        ev.add("transcript", Task.SUMMARIZATION, 1.2)
    code_lines = shapes.code
    if code_lines >= 3:
        ev.add("code_lines", Task.CODE_GENERATION, 2.5)
    elif code_lines:
        ev.add("code_line", Task.CODE_GENERATION, 0.8)
    # Stack traces, SQL and shell commands each need one of these literals: one pass rules all out.
    literals = _HAS_CODE_SHAPE_LITERAL(text)
    if literals and _has_stack_trace(text):
        ev.add("stack_trace", Task.CODE_GENERATION, 2.5)
    if literals and any(map(text.__contains__, cues_.SQL_HINTS)) and cues_.SQL_SYNTAX.search(text):
        ev.add("sql", Task.CODE_GENERATION, 2.5)
    schema = cues_.SCHEMA_DEF.search(text) if "(" in text else None
    if schema and schema.start() and (text[schema.start() - 1].isalnum() or text[schema.start() - 1] == "_"):
        ev.add("schema_def", Task.CODE_GENERATION, 1.5)
    if text.startswith("$ ") or (literals and any(map(text.__contains__, cues_.SHELL_LITERALS))):
        ev.add("shell_cmd", Task.CODE_GENERATION, 1.5)


def _sample(text: str) -> str:
    """The part of a long text that structure is read from: its head and its tail."""
    if len(text) <= _SAMPLE_HEAD + _SAMPLE_TAIL:
        return text
    return text[:_SAMPLE_HEAD] + "\n" + text[-_SAMPLE_TAIL:]


def _line_shapes(text: str) -> _LineShapes:
    """Code-like lines, `key: value` lines and distinct speakers among the first lines."""
    code = key_value = speaker_lines = 0
    speakers: set[str] = set()
    for line in islice(text.splitlines(), _MAX_LINES):
        stripped = line.strip()
        if not stripped:
            continue
        starts = _CODE_LINE_STARTS.get(stripped[0])
        if (
            (starts is not None and stripped.startswith(starts))
            or stripped.endswith(cues_.CODE_LINE_ENDS)
            or (stripped.endswith(":") and stripped.startswith(cues_.PYTHON_BLOCK_STARTS))
            or (stripped[0] == "@" and " " not in stripped)
            or _CODE_OPERATOR.search(stripped) is not None
            or ("(" in stripped and "." in stripped and cues_.METHOD_CALL.search(stripped))
        ):
            code += 1
        if ":" in stripped:
            speaker = cues_.SPEAKER_LINE.match(line)
            if speaker and speaker.group(1) not in cues_.FIELD_LABELS:
                speakers.add(speaker.group(1))
                speaker_lines += 1
            elif cues_.KEY_VALUE_LINE.match(line):
                key_value += 1
    # A conversation has at least two people and someone speaking twice.
    in_turns = len(speakers) >= 2 and speaker_lines > len(speakers)
    return _LineShapes(code, key_value, len(speakers) if in_turns else 0)


def _has_stack_trace(text: str) -> bool:
    """Tracebacks, panics, "TypeError: ..." lines and "at com.x.Y(File.java:12)" frames."""
    if any(map(text.__contains__, cues_.STACK_TRACE_LITERALS)):
        return True
    if ("Error: " in text or "Exception: " in text) and cues_.TRACE_ERROR.search(text):
        return True
    has_frames = any(map(text.__contains__, _STACK_FRAME_HINTS))
    return has_frames and cues_.STACK_FRAME.search(text) is not None


def _score_problem_shape(lowered: str, words: frozenset[str], ev: _Evidence) -> None:
    """Maths, word problems, constraint puzzles and offered choices, in the instruction."""
    has_digit = _DIGIT.search(lowered) is not None
    if cues_.MATH_NOTATION.search(lowered) or (has_digit and cues_.ARITHMETIC.search(lowered)):
        ev.add("math_expr", Task.REASONING, 2.0)
    numbers = len(words & cues_.NUMBER_WORDS)
    if has_digit:
        numbers += len(cues_.NUMBER.findall(lowered))
    if numbers >= 2 and ("?" in lowered or "？" in lowered or _asks_wh(lowered, words)):
        ev.add("numeric_problem", Task.REASONING, min(2.0, 0.5 * numbers))
    if has_digit and len(cues_.UNIT_QUANTITY.findall(lowered)) >= 2:
        ev.add("quantities", Task.REASONING, 1.5)
    logic = len(words & cues_.LOGIC_WORDS) + sum(map(lowered.__contains__, cues_.LOGIC_PHRASES))
    if logic >= 3:
        ev.add("logic_terms", Task.REASONING, 1.2)
    if _offers_choice(lowered):
        ev.add("choice_list", Task.CLASSIFICATION, 1.2)


def _offers_choice(lowered: str) -> bool:
    """ "A, B or C" or "A or B?": read only around the first "or", as such lists are short."""
    if "," not in lowered and "?" not in lowered:
        return False
    if not any(map(lowered.__contains__, _CHOICE_WORD_STEMS)):
        return False
    found = [i for i in map(lowered.find, cues_.CHOICE_WORDS) if i >= 0]
    if not found:
        return False
    at = min(found)
    window = lowered[max(0, at - _CHOICE_WINDOW) : at + 40]
    # The option list's two forms, each tried only if the window has what it needs (", " or "?").
    return (", " in window and cues_.CHOICE_SERIES.search(window) is not None) or (
        "?" in window and cues_.CHOICE_QUESTION.search(window) is not None
    )


def _asks_wh(lowered: str, words: frozenset[str]) -> bool:
    """Whether the text asks who, what, when, which, how much... in any language we know."""
    return not words.isdisjoint(cues_.WH_WORDS) or any(map(lowered.__contains__, cues_.WH_PHRASES))


def _field_nouns(lowered: str, words: frozenset[str]) -> int:
    """How many kinds of field (name, date, amount...) a request names."""
    return len(words & cues_.FIELD_NOUNS) + sum(map(lowered.__contains__, cues_.CJK_FIELD_NOUNS))


def _score_payload(
    turn: _Turn, lowered: str, words: frozenset[str], shapes: _LineShapes, ev: _Evidence
) -> None:
    """What the pasted material and the way the instruction refers to it suggest."""
    payload = _sample(turn.payload)
    if len(turn.payload) >= _LONG_DOCUMENT and _CODE_EVIDENCE.isdisjoint(ev.fired):
        ev.add("long_document", Task.SUMMARIZATION, 1.2)
    if "choice_list" in ev.fired:
        ev.add("doc_choice", Task.CLASSIFICATION, 1.0)
    elif ("?" in lowered or "？" in lowered) and _asks_wh(lowered, words) and not cues_.WH_GIST.search(lowered):
        ev.add("doc_question", Task.EXTRACTION, 2.0)
    if cues_.YES_NO_QUESTION.search(lowered):
        ev.add("doc_judgement", Task.CLASSIFICATION, 1.0)
    if _field_nouns(lowered, words) >= 2:
        ev.add("field_list", Task.EXTRACTION, 1.5)
    if shapes.key_value >= 3:
        ev.add("key_value_data", Task.EXTRACTION, 0.8)
    entities = sum(map(payload.count, cues_.ENTITY_SYMBOLS))
    if entities < 4:
        entities += len(cues_.DATE_LIKE.findall(payload))
    if entities >= 4:
        ev.add("entity_dense", Task.EXTRACTION, 0.8)
    if len(turn.payload) <= _PAYLOAD_WHISPER_CHARS and max(ev.scores.values()) < 2.0:
        # The request says little ("my idea:"): let a short paste whisper.
        whisper = _Evidence()
        _score_keywords(turn.payload.lower(), whisper)
        ev.merge(whisper, _PAYLOAD_WHISPER_WEIGHT, "payload:")


def _add_context(total: _Evidence, own_top: float, last: _Turn, earlier: list[str]) -> None:
    """Let earlier user turns speak, loudly when the last turn leans on them.

    `own_top`: the last turn's own highest non-Chat score.
    """
    context = _Evidence()
    had_document = False
    for age, text in enumerate(reversed(earlier)):
        turn = _split(_sample(text))  # earlier turns are only context: a lighter read will do
        turn_ev = _score_turn(turn)
        if turn.payload or len(text) > _SHORT_MESSAGE * 2 or _presents_data(text):
            had_document = True
            # A document pasted earlier is context, not a request to summarise it.
            turn_ev.scores[Task.SUMMARIZATION] -= turn_ev.fired.pop("long_document", (None, 0.0))[1]
        context.merge(turn_ev, 0.5**age, "")
    lowered = last.lowered
    if had_document and not last.payload:
        words = frozenset(cues_.WORD.findall(lowered))
        asks = "?" in lowered and _asks_wh(lowered, words)
        if asks and not cues_.WH_GIST.search(lowered):
            total.add("ctx_doc_question", Task.EXTRACTION, 1.5)
        if _field_nouns(lowered, words) >= 2:
            total.add("field_list", Task.EXTRACTION, 1.5)
    top = max(context.scores.values())
    if top <= 0:
        return
    follow_up = bool(cues_.FOLLOW_UP.search(lowered)) and len(last.full) <= 200
    bare_paste = bool(last.payload) and len(cues_.WORD.findall(lowered)) <= 3
    if own_top >= 3.0:
        weight = 0.5 if follow_up else 0.3
    elif follow_up or bare_paste or own_top < 1.5:
        weight = 1.0
    else:
        weight = 0.6
    if follow_up:
        total.add("follow_up", Task.CHAT, 0.0)
    total.merge(context, weight * min(1.0, _CONTEXT_CAP / top), "ctx:")


def _presents_data(text: str) -> bool:
    """ "Here's my booking: AF1234, 12 May, seat 34A...": a short message that hands over data."""
    colon = text.find(":")
    return 0 < colon <= 80 and len(text) - colon > 60 and bool(cues_.DEICTIC.search(text[:colon].lower()))


def _decide(ev: _Evidence) -> Classification:
    """Pick the best task; confidence is its softmax share, so a close call reads as unsure."""
    scores = ev.scores
    task = _TIE_ORDER[0]
    best = scores[task]
    for candidate in _TIE_ORDER[1:]:  # strictly greater: a tie stays with the earlier task
        if scores[candidate] > best:
            task, best = candidate, scores[candidate]
    confidence = round(1.0 / sum([math.exp(score - best) for score in scores.values()]), 3)
    supporting: list[tuple[str, float]] = []
    markers: list[str] = []
    others: list[tuple[str, float]] = []
    for name, (cue_task, weight) in ev.fired.items():
        if weight > 0:
            (supporting if cue_task is task else others).append((name, weight))
        elif weight == 0:
            markers.append(name)
    # Heaviest first; sorting is stable, so equal weights keep the order they fired in.
    if len(supporting) > 1:
        supporting.sort(key=_minus_weight)
    if len(others) > 1:
        others.sort(key=_minus_weight)
    names = [name for name, _ in supporting] or (["default_chat"] if task is Task.CHAT else [])
    names += markers
    names += [name for name, _ in others]
    return Classification(task, confidence, tuple(names[:_MAX_CUES_REPORTED]))


def _minus_weight(item: tuple[str, float]) -> float:
    return -item[1]
