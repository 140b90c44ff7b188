"""uvicorn's httptools protocol, sending each response's head together with its first body bytes.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`,
then the body in a second write: two segments, so the client wakes once for the head and
again for the body. On these 2-core VMs the wake-up for the head ran the client on the
gateway's core in between (a socket wake-up is a "sync" wake-up, placed on the waker's core),
and the first chunk waited for it. aiohttp's server, nginx and Envoy send both in one write;
this does the same.

The head is held only until the next write of the same response or, at the latest, the next
turn of the event loop (a HEAD answer or an interim `100 Continue` has no body write to join).

It tells a request's handler when its client is gone (`api/departure.py`'s hook in the scope),
so a completion need not run a watcher task per request to find out.

It also bounds what a request's head may cost. httptools has no limit: it keeps an unfinished
header line whole (and uvicorn the URL), so a client that never ends a header grew the process
by all it sent (450 MB in a hostile test, with `/healthz` taking seconds). A head longer than
`max_head_bytes` (`TIERGATE_MAX_HEADER_BYTES`, 64 KiB by default) or with more than
`MAX_HEADERS` lines gets 431 and the connection closes, as uvicorn's h11 protocol (16 KiB),
Go (1 MiB) and proxies refuse one; the answer waits for responses still being written ahead of it.
A head must also arrive within `head_timeout_seconds` (`TIERGATE_HEAD_TIMEOUT_SECONDS`, 10 s) of
its first byte, or it gets 408 and the connection closes: every byte a slow-header client sends
cancels uvicorn's keep-alive timer, so without this one trickle held a connection for good
(nginx's `client_header_timeout`). The timer starts only when a head spans more than one read,
so the usual request, whose head arrives whole, pays nothing for it.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Final

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tiergate_gateway.core.protocol import error_body
from tiergate_gateway.server.api.departure import DEPARTURE_KEY, DepartureHook
from tiergate_gateway.server.settings import GatewaySettings

MAX_HEADERS: Final = 100
"""Most header lines a request may have (Apache's default; clients and proxies send 5 to 30)."""
_LINGER_SECONDS: Final = 2.0
"""How long a refused connection is still read (its bytes dropped) before it closes. Closing a
socket with unread bytes sends a reset, which can destroy the 431 before a client still sending
has read it; nginx lingers the same way."""


def _configured_head_limits() -> tuple[int, float]:
    """`TIERGATE_MAX_HEADER_BYTES` and `TIERGATE_HEAD_TIMEOUT_SECONDS`, read once, when uvicorn imports this module.

    uvicorn builds the protocol itself, with no way to hand it our settings. A class attribute set
    by cli.py before `uvicorn.run` would not reach `--workers N` processes, which are spawned and
    import this module afresh; the settings reach them as environment variables, like every other
    setting, so reading those at import gives each worker the parent's value.
    """
    settings = GatewaySettings()
    return settings.max_header_bytes, settings.head_timeout_seconds


class _HeadTooLarge(Exception):
    """Raised inside the parser's callback to stop it at a head over the limits."""


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
    """HttpToolsProtocol whose request cycles write a response's head and first body bytes at once,
    and that answers 431 to a request head over `max_head_bytes` or `MAX_HEADERS` lines."""

    max_head_bytes: ClassVar[int]
    head_timeout_seconds: ClassVar[float]
    max_head_bytes, head_timeout_seconds = _configured_head_limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_size = 0
        """Bytes of the read being parsed."""
        self._in_head = False
        self._head_first_read = 0
        """Bytes of the read the current head began in (some may belong to the request before)."""
        self._head_later_reads = 0
        """Bytes of the reads since: all of them head while the head is unfinished."""
        self._refused = False
        self._refusal: tuple[int, str, str] = (431, "", "")
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_began = 0.0

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the head counted and a refused connection's bytes dropped unparsed."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        self._read_size = len(data)
        if self._in_head:
            self._head_later_reads += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head:
            if self._head_later_reads > self.max_head_bytes or len(self.headers) > MAX_HEADERS:
                self._refuse()  # an unfinished head already too long: refuse before it grows further
            elif self._head_timer is None:  # a head spread over reads: from now on it runs against the clock
                self._head_timer = self.loop.call_at(self._head_began + self.head_timeout_seconds, self._head_late)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_first_read = self._read_size
        self._head_later_reads = 0
        self._head_began = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        if len(self.headers) > MAX_HEADERS or (
            self._head_first_read + self._head_later_reads > self.max_head_bytes  # the reads could hold a long head
            and self._head_size() > self.max_head_bytes
        ):
            raise _HeadTooLarge
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous:
            # An ASGI scope may carry server-specific keys; uvicorn types it as a closed TypedDict.
            cycle.scope[DEPARTURE_KEY] = DepartureHook()  # type: ignore[typeddict-unknown-key]
            if cycle.transport is self.transport:
                cycle.transport = _HeadCoalescingWriter(self.transport)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refused and self.cycle.response_complete and not self.transport.is_closing():
            self._send_refusal()  # the responses ahead of the refused request are out

    def _head_size(self) -> int:
        """The current head's size on the wire, give or take the method and spaces."""
        return len(self.url) + 16 + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        """The head did not arrive in time: 408, then close (after responses ahead of it, as for 431)."""
        self._head_timer = None
        if not self._in_head or self._refused:
            return
        self._refuse(
            408,
            f"The request's head did not arrive within {self.head_timeout_seconds:g} seconds.",
            "request_timeout",
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        cycle = self.cycle
        hook = cycle.scope.get(DEPARTURE_KEY) if cycle is not None and not cycle.response_complete else None
        super().connection_lost(exc)
        if isinstance(hook, DepartureHook):
            hook.left = True
            if hook.callback is not None:
                hook.callback()  # the request's handler stops the work done for a client that is gone

    def _refuse(self, status: int = 431, message: str = "", code: str = "request_header_fields_too_large") -> None:
        """Stop parsing; answer now, or after the responses still being written on this connection."""
        if not message:
            message = (
                f"The request's header section is larger than {self.max_head_bytes} bytes "
                f"or has more than {MAX_HEADERS} fields."
            )
        self._refusal = (status, message, code)
        self._refused = True
        self._in_head = False
        self._stop_head_timer()
        self.logger.info("Refused a request head (%d): %s", status, message)
        if self.cycle is not None and not self.cycle.response_complete:
            self.flow.pause_reading()  # resumed by on_response_complete, which then answers
            return
        self._send_refusal()

    def _send_refusal(self) -> None:
        status, message, code = self._refusal
        body = error_body(message, "invalid_request_error", code)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        held = self.cycle.transport if self.cycle is not None else None
        if isinstance(held, _HeadCoalescingWriter):
            held._flush()  # a head the last response still holds (a HEAD answer) goes first
        self.transport.write(b"".join(content))
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # The keep-alive timer's handler closes the transport, and connection_lost cancels it.
        self.timeout_keep_alive_task = self.loop.call_later(_LINGER_SECONDS, self.timeout_keep_alive_handler)
