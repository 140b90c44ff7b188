"""The classifier's learned signal: a linear head over hashed byte n-grams and the cue scorer's evidence.

Why this and not an embedding model: nothing may be downloaded at run time, and the one embedding
package that ships its weights in the wheel (wordllama, LLaMA-2 token embeddings) scored 55-58% on
the dev split alone and added little next to the cues (docs/decisions.md, "Seventh round"). Byte
n-grams (3 to 5 bytes of the UTF-8 text, hashed into 2^18 buckets) read every script alike, the
pasted payload as well as the instruction, and cost a few numpy operations. Three parts of the
conversation get their own hash space, so the same bytes count differently as the last user turn,
as earlier turns (user and assistant: follow-ups take their task from them) or as the system
prompt; the cue scorer's per-task scores and the names of the cues that fired are features too,
so the head learns how far to trust each cue.

The weights are trained by `scripts/train_classifier.py` (`make train-classifier`, seeded) on the
corpus's train split and shipped as package data (`model/task-head.npz`); this module only reads
them, once, at import. Features are computed here for training and serving alike, so the two
cannot drift.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np

from tiergate_api.enums import Task

BITS: Final = 18
BUCKETS: Final = 1 << BITS
NGRAMS: Final = (3, 4, 5)
"""The n-gram sizes, in bytes (`features` reads the three by masking)."""
MAX_BYTES: Final = 1500
"""Bytes of each part read: its head (2/3) and tail (1/3) when it is longer."""
CONTEXT_AS_INSTRUCTION_CHARS: Final = 600
"""The end of the earlier turns that is read as instruction too (the question the last turn answers)."""
SALT_LAST, SALT_CONTEXT, SALT_SYSTEM, SALT_CUES, SALT_INSTRUCTION = 1, 2, 3, 4, 5
CUE_SCALE: Final = 0.1
"""The cue scorer's per-task scores enter the head scaled, so its weights stay on the n-grams' scale."""
TASK_ORDER: Final = tuple(Task)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(64 - BITS)
_MASK3, _MASK4, _MASK5 = np.uint64((1 << 24) - 1), np.uint64((1 << 32) - 1), np.uint64((1 << 40) - 1)
_TEXT_NUMBERS: Final = np.arange(16)
"""0, 1, 2, ...: a request has at most six texts (`_spaces`)."""
_PADDING: Final = bytes(8)
"""Zero bytes after the joined texts, so the 64-bit view at the last offsets stays inside the buffer."""
_KEYS: Final = np.array(
    [zlib.crc32(b"tiergate-space-%d" % salt) << 32 | zlib.crc32(b"key-%d" % salt) for salt in range(8)],
    dtype=np.uint64,
)
"""Per hash space (salt), the key its n-gram hashes are mixed with."""
_MODEL = "task-head.npz"


def conversation_parts(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str, str]:
    """(last user turn, earlier turns, system prompt) as plain text."""
    last_index = -1
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, Mapping) and message.get("role") == "user":
            last_index = index
            break
    last = _text(messages[last_index].get("content")) if last_index >= 0 else ""
    earlier: list[str] = []
    system: list[str] = []
    for message in messages[: max(last_index, 0)][-8:]:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role in ("user", "assistant"):
            earlier.append(_text(message.get("content")))
    return last, "\n".join(earlier), "\n".join(system)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, str | bytes | bytearray):
        return "\n".join(p["text"] for p in content[:32] if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def _clipped(text: str) -> bytes:
    data = (" " + text.lower() + " ").encode("utf-8", "ignore")
    if len(data) <= MAX_BYTES:
        return data
    head = MAX_BYTES * 2 // 3
    return data[:head] + b" " + data[-(MAX_BYTES - head) :]


def cue_bucket(name: str) -> int:
    """A cue name's bucket (crc32: the same in every process, unlike `hash`)."""
    return (zlib.crc32(name.encode()) * 2654435761 + SALT_CUES) % BUCKETS


_cue_bucket = functools.lru_cache(maxsize=4096)(cue_bucket)
"""`cue_bucket`, remembered: the cue names are a fixed vocabulary."""


def _spaces(messages: Sequence[Mapping[str, Any]], instruction: str) -> tuple[list[bytes], list[int]]:
    """The texts read, clipped, and the hash space of each.

    `instruction` is the last turn without its pasted payload, as the cue scorer split it: in a space of
    its own, so that a long paste cannot drown a one-line request. The system prompt and the end of the
    earlier turns are read in that space too, besides their own: an application's system prompt often
    says what to do with a user turn that is only the payload ("extract vendor, date and total" above a
    receipt), and a follow-up's request is often the assistant's last question or the user's last ask."""
    last, earlier, system = conversation_parts(messages)
    texts = [(last, SALT_LAST)]
    if instruction:
        texts.append((instruction, SALT_INSTRUCTION))
    if earlier:
        texts.append((earlier, SALT_CONTEXT))
        texts.append((earlier[-CONTEXT_AS_INSTRUCTION_CHARS:], SALT_INSTRUCTION))
    if system:
        texts.append((system, SALT_SYSTEM))
        texts.append((system, SALT_INSTRUCTION))
    return [_clipped(text) for text, _ in texts], [salt for _, salt in texts]


def features(messages: Sequence[Mapping[str, Any]], cue_names: Iterable[str], instruction: str = "") -> tuple[Any, Any]:
    """The sparse feature vector of a conversation: bucket numbers (uint64) and their values (buckets may
    repeat).

    Every text's byte 3-, 4- and 5-grams, placed in its text's space by multiply-shift hashing of the
    n-gram's bytes (read as one little-endian integer) mixed with the space's key. The texts are joined
    and read in one pass: a 64-bit view at every byte offset of the joined bytes gives all three sizes by
    masking, so a request costs some fifteen numpy operations whatever its number of texts. Each
    occurrence weighs 1/sqrt(n) of its text's n n-grams, so one text counts as much as another, however
    long (an n-gram across a join counts for the text it starts in; every text starts and ends with a
    space, so such n-grams look like none inside a text). Then the names of the cues that fired, each
    1/sqrt(count)."""
    found, values = _ngrams(*_spaces(messages, instruction))
    names = [_cue_bucket(name) for name in cue_names]
    if not names:
        return found, values
    return (
        np.concatenate((found, np.array(names, dtype=np.uint64))),
        np.concatenate((values, np.full(len(names), len(names) ** -0.5, dtype=np.float32))),
    )


def _ngrams(chunks: list[bytes], salts: list[int]) -> tuple[Any, Any]:
    """The texts' n-gram buckets and values (`features`)."""
    lengths = [len(chunk) for chunk in chunks]
    size = sum(lengths)
    if size < NGRAMS[-1]:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
    words = np.ndarray((size,), dtype="<u8", buffer=b"".join(chunks) + _PADDING, strides=(1,))
    grams = np.concatenate((words[:-2] & _MASK3, words[:-3] & _MASK4, words[:-4] & _MASK5))
    owner = np.repeat(_TEXT_NUMBERS[: len(lengths)], lengths)  # the text each n-gram starts in
    owner = np.concatenate((owner[:-2], owner[:-3], owner[:-4]))
    found = ((grams ^ _KEYS[salts][owner]) * _GOLDEN) >> _SHIFT
    values = np.array([max(3 * length - 6, 1) ** -0.5 for length in lengths], dtype=np.float32)[owner]
    return found, values


@dataclass(frozen=True)
class Head:
    """Per-task weights of every bucket, of the cue scores, and a bias."""

    weights: Any
    """float32 (BUCKETS, 8): a bucket's per-task weights, padded to 32 bytes a row (a faster gather)."""
    dense_weights: Any
    """float32 (8, 8): the seven cue scores' weights, scaled by CUE_SCALE, then the bias as an eighth row
    (its input is 1); padded like `weights`."""

    def probabilities(
        self,
        messages: Sequence[Mapping[str, Any]],
        cue_scores: Sequence[float],
        cue_names: Iterable[str],
        instruction: str = "",
    ) -> list[float]:
        """Softmax over the tasks, in `TASK_ORDER`: six numpy operations, then seven floats in Python."""
        buckets, values = features(messages, cue_names, instruction)
        dense = np.array([*cue_scores, 1.0], dtype=np.float32)
        logits = (values @ self.weights[buckets] + dense @ self.dense_weights).tolist()[:7]
        top = max(logits)
        exp = [math.exp(logit - top) for logit in logits]
        total = sum(exp)
        return [share / total for share in exp]


def load_head() -> Head | None:
    """The shipped head, or None when the package has none (the cue scorer then decides alone)."""
    path = resources.files(__package__) / "model" / _MODEL
    if not path.is_file():
        return None
    with path.open("rb") as file, np.load(file) as data:
        weights = np.zeros((BUCKETS, 8), dtype=np.float32)
        weights[:, :7] = data["weights"]
        dense = np.zeros((8, 8), dtype=np.float32)
        dense[:7, :7] = data["cue_weights"].astype(np.float32) * np.float32(CUE_SCALE)
        dense[7, :7] = data["bias"]
        return Head(weights=weights, dense_weights=dense)
