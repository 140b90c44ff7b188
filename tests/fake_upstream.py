"""The world around the dispatcher, in-process: tiers that follow a script, and virtual time.

- `FakeTiers` is a `Transport` whose tiers (told apart by the first segment of the URL's path,
  as `routing_fixtures.tier` builds them) answer each request with the next step of their
  script: JSON, an error status (429 with Retry-After, 5xx), a refused connection, no answer
  at all, or an event stream that ends, breaks or goes silent after some events.
- `VirtualClock` (from `tiergate_sim.virtual_time`, shared with the capacity simulation) runs a
  scenario on an event loop whose time moves only when every task waits: a 30 s attempt timeout
  or open circuit passes at once and exactly. The dispatcher's wall clock and latency timer read
  the same time, so deadlines, cool-downs, latencies and timeouts agree to the microsecond.
- `InProcessGateway` puts them together with a real `Dispatcher` and asks it as the server does.

A test double, so it lives with the tests: the product has one transport (`http11.Pool`), and
the end-to-end tests run the real one against `tiergate sim`.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.dispatch.dispatcher import Answer, Dispatcher, StreamAnswer
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.health import BreakerSettings, HealthBook
from tiergate_gateway.runtime.replicas import EjectionSettings, ReplicaBook
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.upstream.transport import ConnectError, ServerDisconnectedError
from tiergate_sim.virtual_time import VirtualClock

T = TypeVar("T")


# -- scripted tiers


class Ending(Enum):
    """What a fake tier's body does after its last chunk."""

    END = "end"
    """The body ends cleanly."""
    BREAK = "break"
    """The connection drops."""
    SILENCE = "silence"
    """Nothing more ever comes (a read times out)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What a fake tier does with one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    chunks: tuple[bytes, ...] = ()
    ending: Ending = Ending.END
    delay: float = 0.0
    """Seconds before the status line arrives (`math.inf`: never)."""
    gap: float = 0.0
    """Seconds between body chunks."""
    refuse: bool = False
    """The connection is refused."""


def answer(content: str = "hi", *, prompt_tokens: int = 3, completion_tokens: int = 1, delay: float = 0.0) -> Step:
    """A complete chat answer with usage."""
    body = orjson.dumps(
        {
            "id": "fake",
            "object": "chat.completion",
            "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )
    return Step(chunks=(body,), delay=delay)


def error(status: int, *, retry_after: str | None = None) -> Step:
    """An error answer (a 429 may say when to come back)."""
    headers = {"content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = orjson.dumps({"error": {"message": f"fake error {status}", "type": "server_error"}})
    return Step(status=status, headers=headers, chunks=(body,))


def refused() -> Step:
    """No connection: nothing listens."""
    return Step(refuse=True)


def no_answer() -> Step:
    """The request is accepted and never answered (the attempt's timeout ends it)."""
    return Step(delay=math.inf)


def event_stream(events: int = 3, *, then: Ending = Ending.END, gap: float = 0.0) -> Step:
    """An OpenAI event stream: `events` content chunks, then usage and [DONE] when it ends cleanly."""
    chunks = [_event({"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}) for i in range(events)]
    if then is Ending.END:
        chunks.append(_event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": events}}))
        chunks.append(b"data: [DONE]\n\n")
    return Step(headers={"content-type": "text/event-stream"}, chunks=tuple(chunks), ending=then, gap=gap)


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps({"id": "fake", "object": "chat.completion.chunk", **payload}) + b"\n\n"


@dataclass(frozen=True, slots=True)
class Sent:
    """A request a fake tier received."""

    tier: str
    at: float
    """Virtual seconds since the scenario started."""
    body: dict[str, Any]
    headers: Mapping[str, str]


class FakeTiers:
    """A `Transport` to scripted tiers; a tier without a script answers every request (a stream with one)."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._scripts: dict[str, deque[Step]] = {}
        self.sent: list[Sent] = []
        self.open: set[FakeResponse] = set()
        """Responses neither released nor closed: empty after every request, or a connection leaked."""
        self.released = 0
        """Responses given back for reuse (read to their end)."""
        self.closed = 0
        """Responses whose connection was dropped."""

    def script(self, tier: str, *steps: Step) -> None:
        """What the tier does with its next requests, in order; the last step repeats."""
        self._scripts[tier] = deque(steps)

    @property
    def tiers_called(self) -> list[str]:
        """The tiers requests went to, in order."""
        return [sent.tier for sent in self.sent]

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> FakeResponse:
        tier = urlsplit(url).path.split("/")[1]
        sent = Sent(tier, self._clock.monotonic(), orjson.loads(body), dict(headers))
        self.sent.append(sent)
        script = self._scripts.get(tier)
        if script:
            step = script.popleft() if len(script) > 1 else script[0]
        else:
            step = event_stream() if sent.body.get("stream") else answer()
        if step.refuse:
            raise ConnectError("could not connect (ConnectionRefusedError)")
        if step.delay == math.inf:
            await asyncio.get_running_loop().create_future()  # until cancelled
        elif step.delay:
            await asyncio.sleep(step.delay)
        response = FakeResponse(self, step)
        self.open.add(response)
        return response

    async def close(self) -> None:
        for response in list(self.open):
            response.close()


class FakeResponse:
    """A fake tier's answer, read as `http11.Response` is."""

    def __init__(self, tiers: FakeTiers, step: Step) -> None:
        self._tiers = tiers
        self.status = step.status
        self.headers = dict(step.headers)
        self._chunks = deque(step.chunks)
        self._ending = step.ending
        self._gap = step.gap
        self._started = False

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        if self not in self._tiers.open:
            raise AssertionError("read after the response was released or closed")
        if self._chunks:
            if self._gap and self._started:
                if timeout is not None and timeout < self._gap:
                    await asyncio.sleep(timeout)
                    raise TimeoutError
                await asyncio.sleep(self._gap)
            self._started = True
            return self._chunks.popleft()
        if self._ending is Ending.END:
            return b""
        if self._ending is Ending.BREAK:
            raise ServerDisconnectedError("the server closed the connection before answering")
        if timeout is None:
            await asyncio.get_running_loop().create_future()  # until cancelled
        else:
            await asyncio.sleep(timeout)
        raise TimeoutError

    def at_eof(self) -> bool:
        return not self._chunks and self._ending is Ending.END

    def release(self) -> None:
        if self in self._tiers.open:
            self._tiers.open.discard(self)
            if self.at_eof():
                self._tiers.released += 1
            else:
                self._tiers.closed += 1

    def close(self) -> None:
        if self in self._tiers.open:
            self._tiers.open.discard(self)
            self._tiers.closed += 1


# -- the dispatcher over them


class InProcessGateway:
    """A real `Dispatcher` over fake tiers on virtual time; `ask` runs one request as the server does."""

    def __init__(
        self, snapshot: Snapshot, *, breaker: BreakerSettings | None = None, ejection: EjectionSettings | None = None
    ) -> None:
        self.clock = VirtualClock()
        self.tiers = FakeTiers(self.clock)
        self.replicas = ReplicaBook(ejection=ejection)
        self.woken: list[str] = []
        """Tiers the cold-start book asked to start (`ColdStarts.waker`), in order."""
        self.cold = ColdStarts(self.replicas, clock=self.clock.wall, waker=lambda tier: self.woken.append(tier.key))
        self.store = SnapshotStore()
        self.store.subscribe(lambda published: self.replicas.sync(published.tiers.values()))
        self.store.subscribe(lambda published: self.cold.sync(published.tiers.values(), self.clock.wall()))
        self.store.publish(snapshot)
        self.dispatcher = Dispatcher(
            self.store,
            self.tiers,
            health=HealthBook(breaker),
            clock=self.clock.wall,
            timer=self.clock.monotonic,
            replicas=self.replicas,
            cold_starts=self.cold,
        )

    async def ask(
        self,
        content: str = "hi",
        *,
        task: str = "Chat",
        stream: bool = False,
        deadline_seconds: float | None = None,
        **fields: Any,
    ) -> Answer | StreamAnswer:
        """Decide and run one chat request (`fields` go into its body)."""
        body = {"model": "auto", "messages": [{"role": "user", "content": content}], "stream": stream, **fields}
        parsed = parse_request(orjson.dumps(body), "chat")
        decision = self.dispatcher.decide(parsed, {"x-tiergate-task": task})
        return await self.dispatcher.run(parsed, decision, deadline_seconds=deadline_seconds)

    async def answer(self, content: str = "hi", **options: Any) -> Answer:
        """`ask` for a complete (non-stream) answer."""
        result = await self.ask(content, **options)
        assert isinstance(result, Answer)
        return result

    async def stream(self, content: str = "hi", **options: Any) -> tuple[StreamAnswer, bytes]:
        """`ask` for a stream, relayed to its end: the answer and every byte the client got."""
        result = await self.ask(content, stream=True, **options)
        assert isinstance(result, StreamAnswer)
        received = b"".join([chunk async for chunk in result.chunks])
        return result, received

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run a scenario on the gateway's virtual clock."""
        return self.clock.run(main)
