"""The simulator as a plain ASGI application: OpenAI's endpoints, vLLM's health, an admin API.

No framework on purpose: a benchmark's upstream must cost next to nothing per request, so
routing is a dict lookup, bodies are parsed by orjson and answers come from byte
templates (`_wire`). Everything mutable lives on the `SimApp` instance.

Endpoints:
- `POST /v1/chat/completions`, `POST /v1/completions` (streaming or not), `GET /v1/models`;
- `GET /health` (vLLM's probe path), `GET /metrics`;
- `GET|PUT|DELETE /sim/config` (read, patch, reset the knobs), `GET|DELETE /sim/stats`.

Per-request overrides for tests: `x-sim-fault: error|rate-limit|hang|drop|none` and
`x-sim-status: <400-599>`; they win over the knobs' random draws.

A request that gets an answer (not a fault) goes through the `Engine`: it may wait for a slot
and KV-cache room, then its first token comes after `ttft_ms` plus the prefill of its prompt
tokens not found in the prefix cache (`prefill_tokens_per_second`), and the rest at
`tokens_per_second`; when it ends, or its client leaves, its slot and blocks are freed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import orjson

from tiergate_sim._engine import Engine, Sequence
from tiergate_sim._errors import SimRequestError
from tiergate_sim._faults import FAULT_BY_NAME, Fault, draw_fault
from tiergate_sim._metrics import exposition
from tiergate_sim._requests import Plan, plan_chat, plan_text
from tiergate_sim._shaped_wire import ShapedFrames, shaped_body
from tiergate_sim._stats import Outcome, SeenRequest, Stats
from tiergate_sim._wire import (
    StreamFrames,
    completion_body,
    error_body,
    error_type_for,
    models_body,
    response_id,
)
from tiergate_sim.knobs import KnobError, Knobs, SimConfig, update_knobs

type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
type Planner = Callable[[object, SimConfig, Knobs], Plan]

MAX_BODY_BYTES: Final = 32 * 1024 * 1024

_JSON: Final = b"application/json"
_SSE_HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
)
_PROMETHEUS: Final = b"text/plain; version=0.0.4; charset=utf-8"
_NOT_JSON: Final = object()
_OUTCOME_BY_STATUS: Final = {401: Outcome.UNAUTHORIZED, 404: Outcome.MODEL_NOT_FOUND}
_SERVER_ERROR_MESSAGE: Final = "The server had an error while processing your request. Sorry about that! (simulated)"


class SimApp:
    """One simulated upstream: its identity, its current knobs, its engine, and what it has seen."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.knobs = config.knobs
        self.stats = Stats()
        self.engine = Engine(config.engine)
        self._rng = random.Random(config.knobs.seed)
        self._serial_prefix = secrets.token_hex(6)
        self._serials = itertools.count(1)
        self._started = int(time.time())
        self._routes: dict[str, dict[str, Handler]] = {
            "/v1/chat/completions": {"POST": self._chat},
            "/v1/completions": {"POST": self._text},
            "/v1/models": {"GET": self._models},
            "/v1/classify": {"POST": self._classify},
            "/health": {"GET": self._health},
            "/metrics": {"GET": self._metrics},
            "/sim/config": {
                "GET": self._get_config,
                "PUT": self._put_config,
                "DELETE": self._reset_config,
            },
            "/sim/stats": {"GET": self._get_stats, "DELETE": self._reset_stats},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self._routes.get(scope["path"])
            if methods is None:
                await _send_error(send, 404, f"Not found: {scope['path']}", code="not_found")
                return
            handler = methods.get(scope["method"])
            if handler is None:
                allow = (b"allow", ", ".join(methods).encode())
                await _send_error(send, 405, "Method not allowed.", extra=(allow,))
                return
            await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    def set_knobs(self, knobs: Knobs, *, reseed: bool) -> None:
        """Swap the knobs; `reseed` restarts the fault draws from `knobs.seed`."""
        self.knobs = knobs
        if reseed:
            self._rng = random.Random(knobs.seed)

    # -- completions -----------------------------------------------------------------

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._complete(scope, receive, send, plan_chat)

    async def _text(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._complete(scope, receive, send, plan_text)

    async def _complete(self, scope: Scope, receive: Receive, send: Send, planner: Planner) -> None:
        stats = self.stats
        stats.in_flight += 1
        try:
            outcome = await self._answer(scope, receive, send, planner)
        finally:
            stats.in_flight -= 1
        stats.outcomes[outcome] += 1

    async def _answer(self, scope: Scope, receive: Receive, send: Send, planner: Planner) -> Outcome:
        knobs = self.knobs
        try:
            plan, forced_status, fault = await self._admit(scope, receive, knobs, planner)
            sequence = self.engine.sequence(plan.prompt_tokens, plan.choices * plan.completion_tokens, plan.prefix)
        except SimRequestError as exc:
            await _send_request_error(send, exc)
            return _OUTCOME_BY_STATUS.get(exc.status, Outcome.BAD_REQUEST)
        if forced_status is not None:
            await self._send_status(send, knobs, forced_status)
            return Outcome.STATUS_OVERRIDE
        match fault:
            case Fault.ERROR:
                await _send_error(send, 500, _SERVER_ERROR_MESSAGE)
                return Outcome.ERROR
            case Fault.RATE_LIMIT:
                await self._send_status(send, knobs, 429)
                return Outcome.RATE_LIMITED
            case Fault.HANG:
                await _wait_disconnect(receive)
                return Outcome.HUNG
        client = _Client(receive)
        try:
            return await self._generate(send, client, knobs, plan, sequence, drop=fault is Fault.DROP)
        finally:
            self.engine.leave(sequence)
            client.close()

    async def _generate(
        self, send: Send, client: _Client, knobs: Knobs, plan: Plan, sequence: Sequence, *, drop: bool
    ) -> Outcome:
        """Wait for the engine to run the sequence, then answer as the knobs pace it."""
        admitted = self.engine.submit(sequence)
        if admitted is not None and await client.left_before(admitted):
            return Outcome.CLIENT_GONE
        first_token_delay = knobs.ttft_ms / 1000
        if knobs.prefill_tokens_per_second > 0:
            first_token_delay += sequence.uncached_tokens / knobs.prefill_tokens_per_second
        answer_id = response_id(plan, f"{self._serial_prefix}{next(self._serials):08x}")
        created = int(time.time())
        if plan.stream:
            return await _stream(send, client, knobs, plan, first_token_delay, answer_id, created, drop=drop)
        return await _respond(send, client, knobs, plan, first_token_delay, answer_id, created, drop=drop)

    async def _admit(
        self, scope: Scope, receive: Receive, knobs: Knobs, planner: Planner
    ) -> tuple[Plan, int | None, Fault]:
        """Read, record and check a request: its plan, a forced status, and its fault."""
        body, fault_name, forced_status = await self._receive(scope, receive, knobs)
        if body is _NOT_JSON:
            raise SimRequestError(
                400,
                "We could not parse the JSON body of your request. The API expects a JSON payload.",
                code="invalid_json",
            )
        plan = planner(body, self.config, knobs)
        status = _parse_status(forced_status)
        return plan, status, self._fault(knobs, fault_name, streaming=plan.stream)

    async def _receive(self, scope: Scope, receive: Receive, knobs: Knobs) -> tuple[Any, bytes | None, bytes | None]:
        """Read and record a request and check its key: its JSON body (or `_NOT_JSON`), and its
        x-sim-fault and x-sim-status headers. Raises SimRequestError (too large, wrong key)."""
        body = _parse_json(await _read_body(receive))
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.stats.seen(SeenRequest(scope["method"], scope["path"], headers, None if body is _NOT_JSON else body))
        authorization, fault_name, forced_status = _sim_headers(headers)
        _check_key(knobs, authorization)
        return body, fault_name, forced_status

    def _fault(self, knobs: Knobs, name: bytes | None, *, streaming: bool) -> Fault:
        if name is None:
            return draw_fault(knobs, self._rng, streaming=streaming)
        fault = FAULT_BY_NAME.get(name.strip().lower())
        if fault is None:
            choices = ", ".join(Fault)
            raise SimRequestError(400, f"x-sim-fault must be one of: {choices}.", code="invalid_header")
        return fault

    async def _send_status(self, send: Send, knobs: Knobs, status: int) -> None:
        if status == 429:
            retry_after = (b"retry-after", b"%d" % knobs.retry_after_seconds)
            message = "Rate limit reached for requests (simulated). Please try again later."
            await _send_error(send, 429, message, code="rate_limit_exceeded", extra=(retry_after,))
        elif status >= 500:
            await _send_error(send, status, _SERVER_ERROR_MESSAGE)
        else:
            await _send_error(send, status, f"Simulated error status {status}.", code="simulated")

    # -- models, health, metrics -----------------------------------------------------

    async def _classify(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A stand-in for a team's own classifier service (`spec.classifier.external`), shaped by the
        classify_* knobs; error_rate and hang_rate apply to it as to completions."""
        knobs = self.knobs
        try:
            _body, fault_name, _status = await self._receive(scope, receive, knobs)
        except SimRequestError as exc:
            await _send_request_error(send, exc)
            return
        fault = self._fault(knobs, fault_name, streaming=False)
        if fault is Fault.HANG:
            await _wait_disconnect(receive)
            return
        client = _Client(receive)
        try:
            if knobs.classify_delay_ms and await client.left_within(knobs.classify_delay_ms / 1000):
                return
        finally:
            client.close()
        if fault is Fault.ERROR:
            await _send_error(send, 500, _SERVER_ERROR_MESSAGE)
            return
        if fault is Fault.RATE_LIMIT:
            await self._send_status(send, knobs, 429)
            return
        if knobs.classify_body is not None:
            await _send_bytes(send, 200, knobs.classify_body.encode())
            return
        answer: dict[str, object] = {"task": knobs.classify_task or "Chat"}
        if knobs.classify_confidence is not None:
            answer["confidence"] = knobs.classify_confidence
        await _send_bytes(send, 200, orjson.dumps(answer))

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.config
        body = models_body(config.listed_names, config.model, self._started, self.knobs.max_model_len)
        await _send_bytes(send, 200, body)

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_bytes(send, 200, b"", content_type=None)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = exposition(self.config.listed_names[0], self.stats, self.engine)
        await _send_bytes(send, 200, body, content_type=_PROMETHEUS)

    # -- admin -------------------------------------------------------------------------

    def _config_document(self) -> bytes:
        config = self.config
        return orjson.dumps(
            {
                "model": config.model,
                "served_model_names": list(config.listed_names),
                **config.engine.to_public(),
                **self.knobs.to_public(),
            }
        )

    async def _get_config(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_bytes(send, 200, self._config_document())

    async def _put_config(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            patch = _parse_json(await _read_body(receive))
            if not isinstance(patch, dict):
                raise SimRequestError(400, "The body must be a JSON object of knobs.")
            try:
                knobs = update_knobs(self.knobs, patch)
            except KnobError as exc:
                raise SimRequestError(400, str(exc), param=exc.knob, code="invalid_knob") from exc
        except SimRequestError as exc:
            await _send_request_error(send, exc)
            return
        self.set_knobs(knobs, reseed="seed" in patch)
        await _send_bytes(send, 200, self._config_document())

    async def _reset_config(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.set_knobs(self.config.knobs, reseed=True)
        await _send_bytes(send, 200, self._config_document())

    def _stats_document(self) -> bytes:
        return orjson.dumps({**self.stats.to_public(), "engine": self.engine.to_public()})

    async def _get_stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_bytes(send, 200, self._stats_document())

    async def _reset_stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.reset()
        self.engine.reset_counters()
        await _send_bytes(send, 200, self._stats_document())


def create_app(config: SimConfig) -> SimApp:
    """The simulator's ASGI application for `config`."""
    return SimApp(config)


# -- answering -------------------------------------------------------------------------


class _Client:
    """Notices the client leaving. The watch starts on first need: an unpaced answer never pays for it."""

    __slots__ = ("_receive", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._watcher: asyncio.Future[None] | None = None

    def watch(self) -> asyncio.Future[None]:
        """Start watching, if not yet: a disconnect is noticed even between pauses too short to wait."""
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(_wait_disconnect(self._receive))
        return self._watcher

    async def left_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the client has disconnected (meanwhile or before)."""
        if seconds <= 0:
            return self._watcher is not None and self._watcher.done()
        watcher = self.watch()
        if not watcher.done():
            await asyncio.wait((watcher,), timeout=seconds)
        return watcher.done()

    async def left_before(self, event: asyncio.Future[None]) -> bool:
        """Wait for `event`; True if the client disconnected first."""
        watcher = self.watch()
        await asyncio.wait((event, watcher), return_when=asyncio.FIRST_COMPLETED)
        return not event.done()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


async def _respond(
    send: Send, client: _Client, knobs: Knobs, plan: Plan, delay: float, answer_id: str, created: int, *, drop: bool
) -> Outcome:
    """A whole answer after the first token's delay plus the other tokens' time (or half of it, when dropping)."""
    if knobs.tokens_per_second > 0:
        delay += plan.completion_tokens / knobs.tokens_per_second
    if delay > 0 and await client.left_within(delay):
        return Outcome.CLIENT_GONE
    body = completion_body(plan, answer_id, created) if plan.shape is None else shaped_body(plan, answer_id, created)
    if not drop:
        await _send_bytes(send, 200, body)
        return Outcome.OK
    # Announce the full length, send half and stop: the server closes the connection.
    await send({"type": "http.response.start", "status": 200, "headers": _headers(_JSON, len(body))})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    return Outcome.DROPPED


async def _stream(
    send: Send, client: _Client, knobs: Knobs, plan: Plan, delay: float, answer_id: str, created: int, *, drop: bool
) -> Outcome:
    """SSE chunks: the first after `delay`, the rest paced by the knobs (cut after half the tokens, when dropping)."""
    frames = StreamFrames(plan, answer_id, created) if plan.shape is None else ShapedFrames(plan, answer_id, created)
    tokens = plan.completion_tokens
    last = max(1, tokens // 2) if drop else tokens
    if delay > 0 and await client.left_within(delay):
        return Outcome.CLIENT_GONE
    await send({"type": "http.response.start", "status": 200, "headers": list(_SSE_HEADERS)})
    if knobs.tokens_per_second <= 0:
        # No time between tokens: one write carries every event (far fewer syscalls);
        # set tokens_per_second to get one write per token.
        body = b"".join((frames.opening(), *map(frames.token, range(last))))
        if drop:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            return Outcome.DROPPED  # return without finishing: the server closes the connection
        await send({"type": "http.response.body", "body": body + frames.closing(), "more_body": False})
        return Outcome.OK
    loop = asyncio.get_running_loop()
    first_token_at = loop.time()
    interval = 1 / knobs.tokens_per_second
    client.watch()
    await send({"type": "http.response.body", "body": frames.opening() + frames.token(0), "more_body": True})
    for index in range(1, last):
        if await client.left_within(first_token_at + index * interval - loop.time()):
            return Outcome.CLIENT_GONE
        await send({"type": "http.response.body", "body": frames.token(index), "more_body": True})
    if drop:
        return Outcome.DROPPED  # return without finishing: the server closes the connection
    await send({"type": "http.response.body", "body": frames.closing(), "more_body": False})
    return Outcome.OK


async def _wait_disconnect(receive: Receive) -> None:
    """Return once the client has gone (the body has been read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


# -- request helpers -----------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SimRequestError(413, f"The request body is over {MAX_BODY_BYTES} bytes.")
        parts.append(chunk)
    return b"".join(parts)


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _sim_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The Authorization, x-sim-fault and x-sim-status headers, in one pass."""
    authorization = fault = status = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-sim-fault":
            fault = value
        elif name == b"x-sim-status":
            status = value
    return authorization, fault, status


def _check_key(knobs: Knobs, authorization: bytes | None) -> None:
    if knobs.api_key is None:
        return
    expected = b"Bearer " + knobs.api_key.encode()
    if authorization is None or not secrets.compare_digest(authorization, expected):
        raise SimRequestError(
            401,
            "Incorrect API key provided (simulated upstream).",
            code="invalid_api_key",
        )


def _parse_status(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        status = int(value)
    except ValueError:
        status = 0
    if not 400 <= status <= 599:
        raise SimRequestError(400, "x-sim-status must be an HTTP status from 400 to 599.", code="invalid_header")
    return status


# -- response helpers ----------------------------------------------------------------


def _headers(content_type: bytes | None, length: int) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-length", b"%d" % length)]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return headers


async def _send_bytes(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes | None = _JSON,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = _headers(content_type, len(body))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(
    send: Send,
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    body = error_body(message, error_type_for(status), param, code)
    await _send_bytes(send, status, body, extra=extra)


async def _send_request_error(send: Send, exc: SimRequestError) -> None:
    body = error_body(exc.message, exc.error_type, exc.param, exc.code)
    await _send_bytes(send, exc.status, body)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up; answer the server's lifespan messages so any server can run us."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
