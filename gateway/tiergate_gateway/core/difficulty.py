"""How hard a request is within its task (pure): a score from 0 to 1, and whether it counts as hard.

The size table gives each task a range (code 7-14B, reasoning 14-32B and up); a one-line regex and a
multi-file design are both CodeGeneration, and the first needs the bottom of the range, the second
the top. The score reads what a person would: how much is asked (the length of the request, not of
a pasted document), how many separate requirements it lists, and words that mark demanding work
(prove, design, trade-offs, edge cases, several languages' equivalents). It is measured on the
corpus's easy/hard twins (`corpus/difficulty-pairs.jsonl`, tests/unit/test_difficulty.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

HARD_AT: Final = 0.29
"""Scores at or above this count as hard (the planner then prefers the upper part of the task's range).
Chosen on the odd-numbered easy/hard pairs; the even-numbered ones measure it (tests/unit/test_difficulty.py)."""
_SHORT, _LONG = math.log(40), math.log(1200)
"""Instruction lengths (characters) scored 0 and 1 on the length scale."""
_REQUIREMENT = re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)]|[a-z][.)])\s+|;|，|、|\band\b|\bthen\b|\bwith\b")
_DEMANDING = re.compile(
    r"prov(?:e|ing)|proof|deriv|rigor|formal|design|architect|trade-?off|edge case|optimi[sz]|concurren|"
    r"distributed|scal(?:e|able|ing)|invariant|complexit|asymptot|justify|critique|nuanc|conflict|"
    r"reconcil|inconsisten|taxonomy|multi-|several|across|strict|exact|every |all the |"
    r"beweis|entwurf|démontr|conception|demostr|diseñ|证明|设计|推导|複数|証明|設計|증명|설계",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Difficulty:
    """The score and what it means."""

    score: float
    hard: bool


def _last_user(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(
                    p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                )
    return ""


def _instruction(text: str) -> str:
    """The request without a pasted document: the first and the last paragraph of a long message."""
    if len(text) <= 600:
        return text
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) < 3:
        return text[:400] + "\n" + text[-200:]
    return paragraphs[0][:600] + "\n" + paragraphs[-1][:400]


def estimate(messages: Sequence[Mapping[str, Any]]) -> Difficulty:
    """The difficulty of the last user turn's request."""
    text = _last_user(messages)
    instruction = _instruction(text)
    length = min(1.0, max(0.0, (math.log(max(len(instruction), 1)) - _SHORT) / (_LONG - _SHORT)))
    requirements = min(1.0, len(_REQUIREMENT.findall(instruction)) / 6)
    demanding = min(1.0, len(set(m.lower() for m in _DEMANDING.findall(instruction))) / 2)
    payload = min(1.0, max(0.0, math.log(max(len(text), 1) / 2000) / math.log(10)))  # a long paste adds a little
    score = round(0.55 * length + 0.2 * requirements + 0.2 * demanding + 0.05 * payload, 3)
    return Difficulty(score, score >= HARD_AT)
