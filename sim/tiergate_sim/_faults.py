"""Which fault, if any, a request gets: from the override headers or from a seeded draw."""

from __future__ import annotations

import random
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from tiergate_sim.knobs import Knobs


class Fault(StrEnum):
    """How the simulator misbehaves for one request (the `x-sim-fault` header's values)."""

    NONE = "none"
    ERROR = "error"
    RATE_LIMIT = "rate-limit"
    HANG = "hang"
    DROP = "drop"


FAULT_BY_NAME: Final[Mapping[bytes, Fault]] = {fault.value.encode(): fault for fault in Fault}


def draw_fault(knobs: Knobs, rng: random.Random, *, streaming: bool) -> Fault:
    """One uniform draw split into bands: error, then rate limit, then hang, then drop.

    The bands are laid end to end, so rates summing past 1 squeeze the later ones out.
    Non-streaming requests never drop (the knob is `drop_stream_rate`); their draw still
    lands in the band, which keeps a seeded sequence the same whatever the mix of requests.
    """
    if not knobs.any_fault:
        return Fault.NONE
    draw = rng.random()
    edge = knobs.error_rate
    if draw < edge:
        return Fault.ERROR
    edge += knobs.rate_limit_rate
    if draw < edge:
        return Fault.RATE_LIMIT
    edge += knobs.hang_rate
    if draw < edge:
        return Fault.HANG
    edge += knobs.drop_stream_rate
    if draw < edge and streaming:
        return Fault.DROP
    return Fault.NONE
