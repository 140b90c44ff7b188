"""Placeholder log probabilities for the answer's tokens, in chat's and completions' shapes.

Deterministic and cheap: a token's logprob depends only on its position (always < 0,
exact binary fractions so JSON round-trips them), and the alternatives are fixed words
that never occur in the answer, so a completions `top_logprobs` dict never loses a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

MAX_TOP_LOGPROBS: Final = 20
"""OpenAI's bound for chat's `top_logprobs`, and vLLM's default for completions' `logprobs`."""

_ALTERNATIVES: Final = (
    " perhaps", " maybe", " possibly", " likely", " surely", " indeed", " rather", " quite",
    " somewhat", " mostly", " largely", " nearly", " almost", " simply", " merely", " truly",
    " clearly", " plainly", " frankly", " honestly",
)  # fmt: skip
_STEP: Final = 0.5


def logprob_at(position: int) -> float:
    """The sampled token's placeholder logprob at `position`: one of -1/16 ... -8/16."""
    return -0.0625 * (1 + position % 8)


def _choices(token: str, position: int, top: int) -> list[tuple[str, float]]:
    """The `top` likeliest tokens: the sampled one, then alternatives each less likely."""
    if top <= 0:
        return []
    chosen = logprob_at(position)
    others = _ALTERNATIVES[: top - 1]
    return [(token, chosen)] + [(word, chosen - _STEP * (rank + 1)) for rank, word in enumerate(others)]


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def chat_entry(token: str, position: int, top: int) -> dict[str, Any]:
    """One item of chat's `logprobs.content`, its `top_logprobs` listing the `top` likeliest tokens."""
    entry = _entry(token, logprob_at(position))
    entry["top_logprobs"] = [_entry(word, value) for word, value in _choices(token, position, top)]
    return entry


def chat_logprobs(tokens: Sequence[str], start: int, top: int) -> dict[str, Any]:
    """Chat's `choices[i].logprobs` for `tokens`, the first at position `start`."""
    return {
        "content": [chat_entry(token, start + offset, top) for offset, token in enumerate(tokens)],
        "refusal": None,
    }


def text_logprobs(tokens: Sequence[str], start: int, text_offset: int, top: int) -> dict[str, Any]:
    """Completions' `choices[i].logprobs` for `tokens` (the sampled token is always in `top_logprobs`)."""
    offsets: list[int] = []
    for token in tokens:
        offsets.append(text_offset)
        text_offset += len(token)
    return {
        "tokens": list(tokens),
        "token_logprobs": [logprob_at(start + offset) for offset in range(len(tokens))],
        "top_logprobs": [dict(_choices(token, start + offset, max(top, 1))) for offset, token in enumerate(tokens)],
        "text_offset": offsets,
    }
