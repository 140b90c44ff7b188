"""A lean server-sent-events response: the relay's chunks, sent as they come.

Starlette's StreamingResponse starts an anyio task group per response to watch for the
client leaving; measured here that cost a third of the gateway's CPU per stream and most
of the time it added before the first byte. This one runs the relay in the request's own
task and learns of the client leaving as a completion does (`departure.py`): the relay is
cancelled, so the upstream request is closed too and nothing keeps generating.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping

from starlette.types import Receive, Scope, Send

from tiergate_gateway.server.api.departure import ClientGone, unless_client_leaves

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class EventStreamResponse:
    """An ASGI response that relays `chunks`; `on_close` runs once, however the stream ends, and
    `watch` (when given) sees every chunk as it is sent (`content.py` reads the answer's text)."""

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        headers: Mapping[str, str],
        on_close: Callable[[], None],
        watch: Callable[[bytes], None] | None = None,
    ) -> None:
        self.chunks = chunks
        self.headers = [*_SSE_HEADERS, *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]
        self.on_close = on_close
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await unless_client_leaves(scope, receive, self._relay(send))
        except (ClientGone, OSError):
            pass  # the client left, or the connection broke while sending: the stream ends, not the server
        finally:
            try:
                await self.chunks.aclose()
            finally:
                self.on_close()

    async def _relay(self, send: Send) -> None:
        # Start the relay before anything can suspend: its clean-up (the upstream connection, the
        # tier's slot, the accounting) runs only in a generator that has started.
        first = await anext(self.chunks, b"")
        watch = self.watch
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        if first:
            if watch is not None:
                watch(first)
            await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in self.chunks:
            if watch is not None:
                watch(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
