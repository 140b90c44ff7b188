"""Fake tokens: a fixed text cycled word by word; prompt sizes guessed from characters, and
the prompt text the prefix cache cuts into blocks.

The answer never depends on the prompt, so every piece is built once: the plain text of
each length (cached) and the JSON encoding of each word (for stream chunk templates).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any, Final

import orjson

from tiergate_gateway.core.replicas import chat_prefix_text as gateway_prefix_text

CHARS_PER_TOKEN: Final = 4

_ANSWER: Final = (
    "The quick answer is that a small model handles this request well, so the router "
    "sends it to the cheapest tier that can do the task and keeps the larger models "
    "free for the hard questions; if that tier fails, the next one in the chain takes "
    "over and the client never notices the difference."
)
_WORDS: Final = tuple(_ANSWER.split())
# Token i is word i (cycled) with a leading space, except the very first token.
_PIECES_FIRST: Final = _WORDS[0]
_PIECES_REST: Final = tuple(" " + word for word in _WORDS)
_JSON_FIRST: Final = orjson.dumps(_PIECES_FIRST)
_JSON_REST: Final = tuple(orjson.dumps(piece) for piece in _PIECES_REST)


@functools.lru_cache(maxsize=256)
def answer_text(tokens: int) -> str:
    """The whole answer of `tokens` tokens, as a non-streaming response carries it."""
    return "".join(_iter_pieces(tokens))


def _iter_pieces(tokens: int) -> Iterator[str]:
    for index in range(tokens):
        yield text_piece(index)


def text_piece(index: int) -> str:
    """Token `index` of the answer, as text (for log probabilities)."""
    return _PIECES_FIRST if index == 0 else _PIECES_REST[index % len(_WORDS)]


def json_piece(index: int) -> bytes:
    """Token `index` of the answer, already JSON-encoded (a quoted string)."""
    return _JSON_FIRST if index == 0 else _JSON_REST[index % len(_WORDS)]


def _tokens_for_chars(chars: int) -> int:
    return max(1, -(-chars // CHARS_PER_TOKEN))


def _content_chars(content: Any) -> int:
    """Characters of a chat message's content: a string or a list of typed parts."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"]) for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def chat_prompt_tokens(messages: Iterable[Any]) -> int:
    """Prompt size of a chat request: ~4 characters per token over the messages' text."""
    chars = sum(_content_chars(message.get("content")) for message in messages if isinstance(message, dict))
    return _tokens_for_chars(chars)


def completion_prompt_sizes(prompt: Any) -> list[int] | None:
    """Sizes of a completions request's prompts (string, strings, token ids, or lists of
    token ids), or None when `prompt` has none of those shapes."""
    if isinstance(prompt, str):
        return [_tokens_for_chars(len(prompt))]
    if not isinstance(prompt, list) or not prompt:
        return None
    if all(isinstance(item, str) for item in prompt):
        return [_tokens_for_chars(len(item)) for item in prompt]
    if all(isinstance(item, int) and not isinstance(item, bool) for item in prompt):
        return [len(prompt)]
    if all(isinstance(item, list) and item for item in prompt):
        return [len(item) for item in prompt]
    return None


def chat_prefix_text(messages: Iterable[Any]) -> str:
    """The text a chat prompt's prefix-cache blocks are cut from: roles and contents in order.

    The gateway's own function (`tiergate_gateway.core.replicas.chat_prefix_text`), so a block
    boundary of the gateway's prefix scorer is one here too. Like a chat template, the roles make
    "system: X" and "user: X" different prompts.
    """
    return gateway_prefix_text({"messages": list(messages)})


def completion_prefix(prompt: Any) -> str | tuple[int, ...]:
    """A completions prompt as the prefix cache reads it: its text (several joined by newlines),
    or its token ids (several lists one after the other). `prompt` has been checked before."""
    if isinstance(prompt, str):
        return prompt
    if all(isinstance(item, str) for item in prompt):
        return "\n".join(prompt)
    if all(isinstance(item, int) for item in prompt):
        return tuple(prompt)
    return tuple(token for item in prompt for token in item)
