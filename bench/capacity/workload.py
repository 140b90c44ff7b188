"""One day of requests: when they arrive (a diurnal curve with bursts) and what they are (the demo's).

**Arrivals.** A Poisson process whose rate follows the hour of the day (`DAY_SHAPE`, linear
between the hours, times `peak_rps`): a business application used from one time zone, busy from
9:00 to 17:00, quiet in the evening and silent between 2:00 and 4:00. On top of it, bursts
(a batch job, a newsletter, an incident): `bursts_per_day` of them, starting at random times
weighted by the curve, each lasting 2 to 10 minutes at 1.5 to 3 times the rate of the moment.

**Requests.** The demo's sample requests (`tiergate_demo.workload.WORKLOAD`), each sent as the
demo sends it (the prompt alone, no task header: the classifier decides), drawn uniformly. The
demo's prompts are one-liners with short answers, to keep the demo quick; production requests
of the same kinds carry a document, a ticket or a chat history, and longer answers. So each
kind has production-like token counts (`SIZES`, +-30% around them for prompts, +-50% for
answers), which the replica serves and the bill counts (the answer's `usage`); the gateway's
own estimates (cost ranking, tokens-per-minute limits) see the text it is sent, as they would.
A request is Batch with probability `batch_share` (a pipeline's, not streamed), else
Interactive (a person's, streamed).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from tiergate_api.constants import HEADER_LATENCY_CLASS
from tiergate_demo.workload import WORKLOAD, DemoRequest

DAY: Final = 86_400.0
DAY_SHAPE: Final = (
    0.10, 0.05, 0.00, 0.00, 0.00, 0.03, 0.10, 0.30, 0.60, 0.85, 0.95, 1.00,
    0.80, 0.90, 1.00, 0.95, 0.85, 0.70, 0.50, 0.40, 0.35, 0.30, 0.25, 0.18,
)  # fmt: skip
"""Share of the peak rate at each full hour (0:00 to 23:00), linear in between."""


@dataclass(frozen=True, slots=True)
class Size:
    """Production-like size of one kind of request."""

    prompt_tokens: int
    answer_tokens: int


SIZES: Final = {
    "sentiment": Size(300, 5),  # a review, one label
    "intent": Size(200, 5),  # a customer message, one label
    "moderation": Size(150, 5),  # a comment, one label
    "tl;dr": Size(2000, 150),  # an article or a meeting transcript, a paragraph
    "extract": Size(1200, 120),  # an email or a ticket, a JSON object
    "chat": Size(1000, 250),  # a conversation so far, a reply
    "fact": Size(300, 200),  # a question, an answer with a little context
    "code": Size(1500, 400),
    "sql": Size(600, 200),
    "reasoning": Size(400, 600),
    "plan": Size(500, 800),
    "story": Size(200, 900),
}
"""Per demo request label: tokens in and out of a typical production request of that kind."""


@dataclass(frozen=True, slots=True)
class Burst:
    """A stretch of the day with `factor` times the usual rate."""

    start: float
    end: float
    factor: float


@dataclass(slots=True)
class Request:
    """One request of the day, as the gateway receives it and as the replica serves it."""

    index: int
    at: float
    """Arrival, in seconds since midnight (beyond 86,400 on the next day)."""
    kind: str
    """The demo request's label."""
    interactive: bool
    prompt_tokens: int
    answer_tokens: int
    body: bytes
    headers: dict[str, str]

    @property
    def stream(self) -> bool:
        """Interactive requests stream (a person reads the answer as it comes)."""
        return self.interactive


@dataclass(frozen=True)
class DayCurve:
    """The rate of arrivals over the day: the diurnal shape, its peak, and the bursts."""

    peak_rps: float
    bursts: tuple[Burst, ...]

    @classmethod
    def draw(cls, peak_rps: float, bursts_per_day: float, rng: random.Random, days: int = 2) -> DayCurve:
        """A curve with bursts drawn for `days` days (weighted by the shape, so few at night)."""
        bursts: list[Burst] = []
        for day in range(days):
            for _ in range(_poisson(bursts_per_day, rng)):
                start = day * DAY + _weighted_time(rng)
                duration = rng.uniform(120.0, 600.0)
                bursts.append(Burst(start, start + duration, rng.uniform(1.5, 3.0)))
        bursts.sort(key=lambda b: b.start)
        return cls(peak_rps, tuple(bursts))

    def base_rate(self, at: float) -> float:
        """Requests per second of the diurnal curve alone at `at` (seconds since midnight)."""
        return self.peak_rps * shape(at)

    def rate(self, at: float) -> float:
        """Requests per second at `at`, bursts included."""
        factor = 1.0
        for burst in self.bursts:
            if burst.start > at:
                break
            if at < burst.end:
                factor = max(factor, burst.factor)
        return self.base_rate(at) * factor

    @property
    def max_rate(self) -> float:
        """An upper bound of `rate` (for thinning)."""
        return self.peak_rps * max(DAY_SHAPE) * max((b.factor for b in self.bursts), default=1.0)

    def busiest_minute(self, start: float, end: float) -> float:
        """The highest mean rate over any minute in [start, end), bursts included (requests per second)."""
        best = 0.0
        for minute in range(int(start // 60), math.ceil(end / 60)):
            samples = [self.rate(minute * 60 + second) for second in range(0, 60, 5)]
            best = max(best, sum(samples) / len(samples))
        return best

    def mean_rate(self, start: float, end: float) -> float:
        """The mean rate over [start, end), bursts included."""
        steps = max(1, int((end - start) // 10))
        return sum(self.rate(start + (i + 0.5) * (end - start) / steps) for i in range(steps)) / steps


def shape(at: float) -> float:
    """`DAY_SHAPE` at `at` seconds since midnight, linear between the hours, repeating daily."""
    hours = (at % DAY) / 3600.0
    hour = int(hours)
    low, high = DAY_SHAPE[hour], DAY_SHAPE[(hour + 1) % 24]
    return low + (high - low) * (hours - hour)


class Workload:
    """The day's requests in arrival order, drawn lazily from a seeded generator."""

    def __init__(
        self,
        curve: DayCurve,
        *,
        kinds: Sequence[DemoRequest] = WORKLOAD,
        batch_share: float = 0.2,
        seed: int = 1,
        alias: str = "auto",
    ) -> None:
        self.curve = curve
        self.kinds = tuple(kinds)
        self.batch_share = batch_share
        self.seed = seed
        self.alias = alias

    def arrivals(self, start: float, end: float) -> Iterator[Request]:
        """The requests arriving in [start, end) (a non-homogeneous Poisson process, by thinning)."""
        rng = random.Random(self.seed)
        top = self.curve.max_rate
        at, index = start, 0
        while True:
            at += rng.expovariate(top)
            if at >= end:
                return
            if rng.random() * top >= self.curve.rate(at):
                continue
            yield self._request(index, at, rng)
            index += 1

    def _request(self, index: int, at: float, rng: random.Random) -> Request:
        kind = rng.choice(self.kinds)
        size = SIZES.get(kind.label, Size(500, kind.max_tokens))
        interactive = rng.random() >= self.batch_share
        answer_cap = max(1, math.ceil(size.answer_tokens * 1.5))
        answer = max(1, min(answer_cap, round(size.answer_tokens * rng.uniform(0.5, 1.5))))
        prompt = max(1, round(size.prompt_tokens * rng.uniform(0.7, 1.3)))
        body = orjson.dumps(
            {
                "model": self.alias,
                "messages": [{"role": "user", "content": kind.prompt}],
                "max_tokens": answer_cap,
                "stream": interactive,
            }
        )
        headers = {HEADER_LATENCY_CLASS: "Interactive" if interactive else "Batch"}
        return Request(index, at, kind.label, interactive, prompt, answer, body, headers)


def mean_size(kinds: Sequence[DemoRequest]) -> Size:
    """The mean prompt and answer tokens of a request drawn uniformly from `kinds`."""
    sizes = [SIZES.get(k.label, Size(500, k.max_tokens)) for k in kinds]
    return Size(
        round(sum(s.prompt_tokens for s in sizes) / len(sizes)), round(sum(s.answer_tokens for s in sizes) / len(sizes))
    )


def _poisson(mean: float, rng: random.Random) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _weighted_time(rng: random.Random) -> float:
    """A time of day drawn with density proportional to the curve (hour by hour, uniform within)."""
    weights = [(DAY_SHAPE[h] + DAY_SHAPE[(h + 1) % 24]) / 2 for h in range(24)]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    hour = bisect.bisect_right(cumulative, rng.random() * total)
    return (min(hour, 23) + rng.random()) * 3600.0
