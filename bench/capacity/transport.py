"""The gateway's `Transport` to the simulated pods and remote API (upstream/transport.py's shape).

A request is found by its `x-request-id` (the dispatcher forwards it), so the pod or the API
knows its real size. A pod serves it as `tiergate sim` does: the engine admits it (or queues
it), the first token comes after the replica's first-token time, the rest after its decode
time; a stream sends its first event then, and the rest (with usage and `[DONE]`) at the end.
A request sent to a pod that is gone, or not ready, or to the Service while no pod is ready, is
refused (a connection error), as a real network would.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Final

import orjson

from capacity.cluster import Deployment, Pod, RemoteApi
from capacity.workload import Request
from tiergate_gateway.upstream.transport import ConnectError

GRACE_SECONDS: Final = 30.0
"""A deleted pod still answers for this long (Kubernetes' termination grace period)."""
_JSON: Final = {"content-type": "application/json"}
_SSE: Final = {"content-type": "text/event-stream"}
_FIRST: Final = (
    b'data: {"id":"sim","object":"chat.completion.chunk","model":"sim",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Sure"}}]}\n\n'
)


def _body(request: Request) -> bytes:
    return orjson.dumps(
        {
            "id": "sim",
            "object": "chat.completion",
            "model": "sim",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": request.prompt_tokens, "completion_tokens": request.answer_tokens},
        }
    )


def _stream_end(request: Request) -> bytes:
    usage = {"prompt_tokens": request.prompt_tokens, "completion_tokens": request.answer_tokens}
    return (
        b'data: {"id":"sim","object":"chat.completion.chunk","model":"sim",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"sim","object":"chat.completion.chunk","model":"sim","choices":[],"usage":'
        + orjson.dumps(usage)
        + b"}\n\ndata: [DONE]\n\n"
    )


class Response:
    """An answer whose status and headers have arrived: a whole JSON body, or a stream's rest."""

    def __init__(
        self, headers: Mapping[str, str], first: bytes, rest: bytes, decode: float, done: Callable[[], None]
    ) -> None:
        self.status = 200
        self.headers = headers
        self._first = first
        self._rest = rest
        self._decode = decode
        self._done: Callable[[], None] | None = done

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        if self._first:
            first, self._first = self._first, b""
            return first
        if not self._rest:
            return b""
        if self._decode > 0:
            if timeout is not None and timeout < self._decode:
                await asyncio.sleep(timeout)
                self._decode -= timeout
                raise TimeoutError
            await asyncio.sleep(self._decode)
            self._decode = 0.0
        rest, self._rest = self._rest, b""
        return rest

    def at_eof(self) -> bool:
        return not self._first and not self._rest

    def release(self) -> None:
        self._end()

    def close(self) -> None:
        self._end()

    def _end(self) -> None:
        if self._done is not None:
            done, self._done = self._done, None
            done()


class ClusterTransport:
    """Sends the gateway's requests to the tier's pods (by address) or to the remote API (by host)."""

    def __init__(
        self,
        deployment: Deployment,
        remote: RemoteApi,
        requests: Mapping[str, Request],
        now: Callable[[], float],
        *,
        service_host: str,
        rng: random.Random,
    ) -> None:
        self.deployment = deployment
        self.remote = remote
        self.requests = requests
        self.now = now
        self.service_host = service_host
        self.rng = rng
        self.remote_calls = 0
        self.refused = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        request = self.requests[headers["x-request-id"]]
        host = url.split("/", 3)[2]
        if host == self.remote.host:
            return await self._remote(request)
        pod = self._pod(host)
        if pod is None:
            self.refused += 1
            raise ConnectError("could not connect (ConnectionRefusedError)")
        return await self._serve(pod, request)

    async def close(self) -> None:
        return None

    def _pod(self, host: str) -> Pod | None:
        now = self.now()
        if host == self.service_host:  # kube-proxy: any ready pod
            ready = [pod for pod in self.deployment.pods if pod.ready]
            return self.rng.choice(ready) if ready else None
        pod = self.deployment.by_address.get(host)
        if pod is None or not pod.up:
            return None
        if pod.deleted_at is not None and now > pod.deleted_at + GRACE_SECONDS:
            return None
        return pod

    async def _serve(self, pod: Pod, request: Request) -> Response:
        model = self.deployment.model
        engine = pod.engine
        sequence = engine.sequence(request.prompt_tokens, request.answer_tokens, None)
        pod.in_flight += 1
        handed_over = False

        def done() -> None:
            engine.leave(sequence)
            pod.in_flight -= 1
            pod.last_answer_end = max(pod.last_answer_end, self.now())

        try:
            admitted = engine.submit(sequence)
            if admitted is not None:
                await admitted
            first = model.first_token_seconds(request.prompt_tokens)
            decode = model.decode_seconds(request.answer_tokens)
            if request.stream:
                await asyncio.sleep(first)
                handed_over = True
                return Response(_SSE, _FIRST, _stream_end(request), decode, done)
            await asyncio.sleep(first + decode)
            handed_over = True
            return Response(_JSON, _body(request), b"", 0.0, done)
        finally:
            if not handed_over:  # cancelled (a timeout, the client left) before the answer started
                done()

    async def _remote(self, request: Request) -> Response:
        self.remote_calls += 1
        remote = self.remote
        decode = remote.decode_seconds(request.answer_tokens)
        if request.stream:
            await asyncio.sleep(remote.first_token_seconds())
            return Response(_SSE, _FIRST, _stream_end(request), decode, _nothing)
        await asyncio.sleep(remote.first_token_seconds() + decode)
        return Response(_JSON, _body(request), b"", 0.0, _nothing)


def _nothing() -> None:
    return None
