"""uvicorn's httptools protocol, sending each response's head together with its first body bytes.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`,
then the body in a second write: two segments, so the client wakes once for the head and
again for the body. On these 2-core VMs the wake-up for the head ran the client on the
gateway's core in between (a socket wake-up is a "sync" wake-up, placed on the waker's core),
and the first chunk waited for it. aiohttp's server, nginx and Envoy send both in one write;
this does the same.

The head is held only until the next write of the same response or, at the latest, the next
turn of the event loop (a HEAD answer or an interim `100 Continue` has no body write to join).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadCoalescingWriter:
    """Wraps a transport for one response: the first write waits for the second, or one loop turn."""

    __slots__ = ("_flush_handle", "_held", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._started = False
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        if not self._started:
            self._started = True
            self._held = data
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        if self._held is not None:
            data = self._held + data
            self._held = None
            self._cancel_flush()
        self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def _flush(self) -> None:
        self._cancel_flush()
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose request cycles write a response's head and first body bytes at once."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous and cycle.transport is self.transport:
            cycle.transport = _HeadCoalescingWriter(self.transport)  # type: ignore[assignment]
