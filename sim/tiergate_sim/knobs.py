"""The simulator's settings: who it pretends to be, its engine, and the knobs that shape its answers.

`SimConfig` (with its `EngineConfig`: vLLM's scheduling and KV-cache flags) is fixed at
start; `Knobs` can be swapped at run time through `PUT /sim/config`, so both are frozen and
an update builds a new `Knobs` (readers take one reference per request and see a
consistent set). Plain dataclasses rather than pydantic-settings: the
simulator reads its flags once from argparse and validates run-time patches by hand, and
nothing here may cost anything on the request path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class KnobError(ValueError):
    """A knob update names an unknown or read-only knob, or gives a value out of range."""

    def __init__(self, message: str, knob: str | None) -> None:
        super().__init__(message)
        self.knob = knob


@dataclass(frozen=True, slots=True)
class Knobs:
    """Everything about an answer that tests may change while the simulator runs."""

    ttft_ms: float = 0.0
    """Delay before the first token (the whole answer waits for it when not streaming)."""
    tokens_per_second: float = 0.0
    """Pace of the tokens after the first; 0 means as fast as possible."""
    prefill_tokens_per_second: float = 0.0
    """Prefill speed: the prompt tokens not found in the prefix cache add their share of
    this to the time to first token; 0 means prefill is instant."""
    output_tokens: int = 16
    """Length of every answer, cut shorter by the request's max_tokens."""
    error_rate: float = 0.0
    """Share of completion requests answered 500."""
    rate_limit_rate: float = 0.0
    """Share answered 429 with Retry-After."""
    hang_rate: float = 0.0
    """Share that never answer (until the client gives up)."""
    drop_stream_rate: float = 0.0
    """Share of streams cut after some content, without [DONE]."""
    retry_after_seconds: int = 1
    """Value of the Retry-After header on 429 answers."""
    max_model_len: int | None = None
    """Context limit (vLLM's --max-model-len): longer requests get 400; None means no limit."""
    api_key: str | None = None
    """When set, /v1 requests need `Authorization: Bearer <api_key>`."""
    seed: int | None = None
    """Seed of the fault draws; setting it restarts the sequence."""
    classify_task: str | None = None
    """What `POST /v1/classify` (a stand-in for a team's classifier service) answers; None: Chat."""
    classify_confidence: float | None = None
    """The confidence it answers with; None leaves it out."""
    classify_delay_ms: float = 0.0
    """How long it takes to answer."""
    classify_body: str | None = None
    """A raw body to answer with instead (to test malformed answers)."""

    @property
    def any_fault(self) -> bool:
        """True when some request may draw a fault."""
        return self.error_rate > 0 or self.rate_limit_rate > 0 or self.hang_rate > 0 or self.drop_stream_rate > 0

    def to_public(self) -> dict[str, Any]:
        """The knobs as `GET /sim/config` shows them (the API key redacted)."""
        data = dataclasses.asdict(self)
        if self.api_key is not None:
            data["api_key"] = "<redacted>"
        return data


DEFAULT_BLOCK_SIZE: Final = 16
DEFAULT_KV_CACHE_TOKENS: Final = 1 << 20
"""KV-cache capacity in tokens without `--num-gpu-blocks-override` (a small model on a large GPU
holds about this much): large enough that only the flag makes the cache a constraint."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """vLLM's scheduling and KV-cache flags, fixed at start (see docs/simulator.md)."""

    max_num_seqs: int | None = None
    """Sequences answered at once (`--max-num-seqs`); the rest wait in FIFO order. None: no limit."""
    enable_prefix_caching: bool = False
    """Reuse the KV blocks of earlier prompts' common prefixes (`--enable-prefix-caching`)."""
    block_size: int = DEFAULT_BLOCK_SIZE
    """Tokens per KV-cache block (`--block-size`)."""
    num_gpu_blocks_override: int | None = None
    """KV-cache capacity in blocks (`--num-gpu-blocks-override`); None: `DEFAULT_KV_CACHE_TOKENS` worth."""

    @property
    def num_gpu_blocks(self) -> int:
        """The KV-cache capacity in blocks."""
        if self.num_gpu_blocks_override is not None:
            return self.num_gpu_blocks_override
        return max(1, DEFAULT_KV_CACHE_TOKENS // self.block_size)

    def to_public(self) -> dict[str, Any]:
        """The engine settings as `GET /sim/config` shows them (read-only there)."""
        return {**dataclasses.asdict(self), "num_gpu_blocks": self.num_gpu_blocks}


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The simulator's identity (fixed) and its starting knobs."""

    model: str
    """vLLM's --model: accepted as a request's "model" and shown as the models' `root`."""
    served_model_names: tuple[str, ...] = ()
    """vLLM's --served-model-name: the names /v1/models lists; empty means [model]."""
    knobs: Knobs = field(default_factory=Knobs)
    engine: EngineConfig = field(default_factory=EngineConfig)

    @property
    def listed_names(self) -> tuple[str, ...]:
        """Names shown by /v1/models, the first being the default for requests without one."""
        return self.served_model_names or (self.model,)

    @property
    def accepted_names(self) -> frozenset[str]:
        """Every name a request may send as "model"."""
        return frozenset((self.model, *self.served_model_names))


class _Kind(StrEnum):
    """What values a knob takes; the value reads as the end of an error message."""

    RATE = "a number from 0 to 1"
    DURATION = "a non-negative number"
    COUNT = "a positive integer"
    SECONDS = "a non-negative integer"
    OPTIONAL_COUNT = "a positive integer or null"
    OPTIONAL_TEXT = "a non-empty string or null"
    OPTIONAL_INT = "an integer or null"
    OPTIONAL_RATE = "a number from 0 to 1 or null"


_KNOB_KINDS: Final[Mapping[str, _Kind]] = {
    "ttft_ms": _Kind.DURATION,
    "tokens_per_second": _Kind.DURATION,
    "prefill_tokens_per_second": _Kind.DURATION,
    "output_tokens": _Kind.COUNT,
    "error_rate": _Kind.RATE,
    "rate_limit_rate": _Kind.RATE,
    "hang_rate": _Kind.RATE,
    "drop_stream_rate": _Kind.RATE,
    "retry_after_seconds": _Kind.SECONDS,
    "max_model_len": _Kind.OPTIONAL_COUNT,
    "api_key": _Kind.OPTIONAL_TEXT,
    "seed": _Kind.OPTIONAL_INT,
    "classify_task": _Kind.OPTIONAL_TEXT,
    "classify_confidence": _Kind.OPTIONAL_RATE,
    "classify_delay_ms": _Kind.DURATION,
    "classify_body": _Kind.OPTIONAL_TEXT,
}
_ENGINE_KINDS: Final[Mapping[str, _Kind]] = {
    "max_num_seqs": _Kind.COUNT,
    "block_size": _Kind.COUNT,
    "num_gpu_blocks_override": _Kind.COUNT,
}
_KINDS: Final[Mapping[str, _Kind]] = {**_KNOB_KINDS, **_ENGINE_KINDS}
READ_ONLY: Final = frozenset(
    {
        "model",
        "served_model_names",
        "max_num_seqs",
        "enable_prefix_caching",
        "block_size",
        "num_gpu_blocks_override",
        "num_gpu_blocks",
    }
)


def _valid(kind: _Kind, value: object) -> bool:
    if value is None:
        return kind in (_Kind.OPTIONAL_COUNT, _Kind.OPTIONAL_TEXT, _Kind.OPTIONAL_INT, _Kind.OPTIONAL_RATE)
    if kind is _Kind.OPTIONAL_TEXT:
        return isinstance(value, str) and value != ""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    match kind:
        case _Kind.RATE | _Kind.OPTIONAL_RATE:
            return 0 <= value <= 1
        case _Kind.DURATION:
            return value >= 0
        case _Kind.COUNT | _Kind.OPTIONAL_COUNT:
            return isinstance(value, int) and value >= 1
        case _Kind.SECONDS:
            return isinstance(value, int) and value >= 0
        case _Kind.OPTIONAL_INT:
            return isinstance(value, int)
    return False


def check_knob(name: str, value: object) -> None:
    """Raise `KnobError` unless `value` is acceptable for the knob (or numeric engine flag) `name`."""
    kind = _KINDS[name]
    if not _valid(kind, value):
        raise KnobError(f"{name} must be {kind}, got {value!r}", name)


def update_knobs(knobs: Knobs, patch: Mapping[str, Any]) -> Knobs:
    """A copy of `knobs` with `patch` applied; names may use dashes like the CLI flags."""
    changes: dict[str, Any] = {}
    for raw_name, value in patch.items():
        name = raw_name.replace("-", "_")
        if name in READ_ONLY:
            raise KnobError(f"{name} is fixed at start and cannot be changed", name)
        if name not in _KNOB_KINDS:
            known = ", ".join(sorted(_KNOB_KINDS))
            raise KnobError(f"unknown knob {raw_name!r}; known knobs: {known}", raw_name)
        check_knob(name, value)
        is_real = _KNOB_KINDS[name] in (_Kind.RATE, _Kind.DURATION, _Kind.OPTIONAL_RATE)
        changes[name] = float(value) if is_real and value is not None else value
    return dataclasses.replace(knobs, **changes)
