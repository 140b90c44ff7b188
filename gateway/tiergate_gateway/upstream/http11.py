"""A lean HTTP/1.1 client for calls to the tiers: a keep-alive pool, one write per request, httptools parsing.

Why not aiohttp's client: measured on these machines against the same server and loop, a pooled
aiohttp POST cost 155-185 us of client CPU and this 42-44 us; that difference sat before the first
byte of every answer. The tiers need little of a general client: no redirects, cookies, proxies,
compression or HTTP/2. What they do need is here: TLS, keep-alive with idle expiry, one retry
when a reused connection turns out to be closed before it answered, chunked and length- or
close-delimited bodies, back-pressure, connections closed (never reused) when a caller gives
up mid-answer, and a bounded answer head (a server that never ends its headers costs 64 KiB).

It is the default `transport.Transport` (`Response` is its `UpstreamResponse`). Errors are the
`TransportError`s of `transport.py` (or `TimeoutError` from a read timeout); messages never contain URLs.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httptools

from tiergate_gateway.upstream.transport import (
    ConnectError,
    InvalidHeaderError,
    InvalidResponseError,
    InvalidUrlError,
    ServerDisconnectedError,
    TransportError,
)

_PAUSE_ABOVE: Final = 512 * 1024
"""Buffered answer bytes at which reading from the socket pauses until the caller catches up."""
MAX_HEAD_BYTES: Final = 64 * 1024
"""Default cap on an answer's status line and headers (aiohttp's client allows 8 KiB a line, 128 lines).
httptools has none and keeps an unfinished header line whole, so without one a server that never
ends a header grows the gateway by all it sends until the attempt times out (~250 MB an attempt)."""
MAX_HEADERS: Final = 100
"""Most header lines an answer may have (a model server sends about ten)."""
_STALE_WINDOW: Final = 0.05
"""A reused connection lost this soon after the write, with nothing received, was closed by the
server while idle (the keep-alive race); later, the server may have started on the request."""


_SAFE_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP token (RFC 9110 field name)."""
_UNSAFE_VALUE: Final = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
"""Control characters (line breaks, NUL) and anything outside latin-1 that cannot go on the wire."""
_CHECKED_NAMES: Final = frozenset(
    {"content-type", "accept", "authorization", "traceparent", "tracestate", "baggage", "x-request-id"}
)
"""Header names the gateway itself sends (names with a '-' are not isalnum)."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a URL points: the pool key, the Host header and the path."""

    origin: tuple[str, str, int]
    host_header: str
    path: str


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidUrlError("the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrlError("only absolute http(s) URLs are supported")
    default = 443 if parts.scheme == "https" else 80
    port = port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target((parts.scheme, host, port), host_header, path)


def _head(method: str, target: _Target, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\ncontent-length: {length}\r\n"]
    for name, value in headers.items():
        # Common names and printable-ASCII values pass a C check; only the rest needs the exact rules.
        if not ((name.isascii() and name.isalnum()) or name in _CHECKED_NAMES) and not _SAFE_NAME.fullmatch(name):
            raise InvalidHeaderError(f"request header {_SAFE_NAME.sub('', name)[:40]!r} has characters HTTP forbids")
        if not (value.isascii() and value.isprintable()) and _UNSAFE_VALUE.search(value):
            # Never the value itself in the message: it may be a credential.
            raise InvalidHeaderError(f"request header {_SAFE_NAME.sub('', name)[:40]!r} has characters HTTP forbids")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def _head_too_large(limit: int) -> InvalidResponseError:
    return InvalidResponseError(f"the answer's head is longer than {limit} bytes or {MAX_HEADERS} header lines")


def _head_size(headers: Mapping[str, str]) -> int:
    """About the size of a head with these headers (a name repeated counts once)."""
    return sum(len(name) + len(value) + 4 for name, value in headers.items())


class Response:
    """An answer whose status and headers have arrived; its body is read with `read_chunk` or `read`."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self.status = 0
        self.headers: dict[str, str] = {}
        self._headers_ready: asyncio.Future[None] = connection.loop.create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._error: TransportError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._received_any = False
        self._released = False
        self._sent_at = connection.loop.time()
        self._lost_at: float | None = None

    # -- what the caller uses

    def at_eof(self) -> bool:
        """Whether the whole body has arrived and been read."""
        return self._complete and not self._chunks

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        """Whatever body bytes have arrived (waiting up to `timeout` for some); b"" at the end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            waiter = self._waiter = self._connection.loop.create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(timeout):
                        await waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        self._connection.resume_reading()
        return chunk

    async def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        """Give the connection back when the answer was read to its end; otherwise close it."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        if self.at_eof() and self._error is None and connection.keep_alive:
            connection.recycle()
        else:
            connection.close()

    def close(self) -> None:
        """Close the connection, whatever state the answer is in (the server sees the caller leave)."""
        if not self._released:
            self._released = True
            self._connection.close()

    # -- what the connection feeds in

    def _on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def _on_headers_complete(self) -> None:
        if not self._headers_ready.done():
            self._headers_ready.set_result(None)

    def _on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _PAUSE_ABOVE:
            self._connection.pause_reading()
        self._wake()

    def _on_complete(self) -> None:
        self._complete = True
        self._wake()

    def _fail(self, error: TransportError) -> None:
        if self._complete:
            return
        if self._lost_at is None:
            self._lost_at = self._connection.loop.time()
        self._error = error
        if not self._headers_ready.done():
            self._headers_ready.set_exception(error)
            self._headers_ready.exception()  # retrieved: a caller that left must not log it
        self._wake()

    def _lost_before_the_server_could_start(self) -> bool:
        """Nothing received and lost right after the write: the server had closed this idle connection."""
        return not self._received_any and self._lost_at is not None and self._lost_at - self._sent_at <= _STALE_WINDOW

    def _ends_at_close(self) -> bool:
        """A body without length or chunking runs until the server closes the connection."""
        if self.status in (204, 304) or 100 <= self.status < 200:
            return False
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return not chunked and "content-length" not in self.headers

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; it carries one exchange at a time."""

    def __init__(self, pool: Pool, origin: tuple[str, str, int]) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.keep_alive = True
        self.closed = False
        self.idle_since = 0.0
        self._paused = False
        self._max_head_bytes = pool.max_head_bytes
        self._reading_head = False
        """The answer's final head has not ended yet (interim 1xx heads count towards it)."""
        self._head_bytes = 0
        """Bytes received while the head was unfinished: all head while it is, an upper bound once it ends."""
        self._header_lines = 0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: the connection can't be trusted any more
            self.close()
            return
        response._received_any = True
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            response._fail(InvalidResponseError("the server switched protocols"))
            self.close()
            return
        except httptools.HttpParserError as exc:
            ours = exc.__context__  # what a callback below raised
            if not isinstance(ours, InvalidResponseError):
                ours = InvalidResponseError("the answer is not valid HTTP/1.1")
            response._fail(ours)
            self.close()
            return
        if self._reading_head and (self._head_bytes > self._max_head_bytes or self._header_lines > MAX_HEADERS):
            response._fail(_head_too_large(self._max_head_bytes))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep_alive = False
        response = self.response
        if response is not None and not response._complete:
            clean = exc is None
            if clean and response._headers_ready.done() and response._error is None and response._ends_at_close():
                response._on_complete()
            else:
                response._fail(ServerDisconnectedError("the server closed the connection before answering"))
        self.pool._forget(self)

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        response = self.response
        if response is not None and response._complete:
            # More bytes after the answer we asked for: never parse them into it, never reuse this.
            self.keep_alive = False
            raise InvalidResponseError("bytes after the end of the answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self._header_lines += 1
        self.response._on_header(name, value)

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        if self._header_lines > MAX_HEADERS or (
            # The head ended in a read that took the count over the cap: measure the head itself.
            self._head_bytes > self._max_head_bytes and _head_size(response.headers) > self._max_head_bytes
        ):
            raise _head_too_large(self._max_head_bytes)
        response.status = self.parser.get_status_code()
        if 100 <= response.status < 200:
            return  # an interim answer: the real one follows
        self._reading_head = False
        response._on_headers_complete()

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._on_body(body)

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        if 100 <= response.status < 200:
            response.headers.clear()
            return
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        response._on_complete()

    # -- what the pool and the response use

    def send(self, data: bytes) -> Response:
        assert self.transport is not None
        self.response = Response(self)
        self._reading_head = True
        self._head_bytes = self._header_lines = 0
        self.transport.write(data)
        return self.response

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def recycle(self) -> None:
        self.response = None
        self.resume_reading()
        self.pool._put(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.keep_alive = False
            if self.transport is not None:
                response = self.response
                if response is not None and not response._complete:
                    self.transport.abort()  # mid-exchange: drop unsent bytes, let the server see us leave now
                else:
                    self.transport.close()
            self.pool._forget(self)


class Pool:
    """Keep-alive connections per origin, at most `max_connections` open at once."""

    def __init__(
        self,
        max_connections: int = 1000,
        idle_seconds: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
        max_head_bytes: int = MAX_HEAD_BYTES,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        """An answer whose status line and headers are longer is an InvalidResponseError."""
        self.idle_seconds = idle_seconds
        """Below the usual server keep-alive (uvicorn and so vLLM: 5 s), so we rarely race a server's close."""
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ssl = ssl_context
        """The system's trusted CAs unless given; made on first use of an https tier."""
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or busy."""
        return len(self._open)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """Send a POST and wait for the answer's status and headers (cancel from outside to time out)."""
        target = _target(url)
        data = _head("POST", target, headers, len(body)) + body
        for attempt in (1, 2):
            connection, reused = await self._acquire(target.origin)
            response = connection.send(data)
            try:
                await response._headers_ready
            except ServerDisconnectedError:
                connection.close()
                if reused and attempt == 1 and response._lost_before_the_server_could_start():
                    # The server had closed this idle connection; the request never reached it. Its
                    # other idle connections are suspect too (a restart closes them all): start afresh.
                    self._close_idle(target.origin)
                    continue
                raise
            except BaseException:
                connection.close()  # cancelled or failed mid-exchange: never reuse it
                raise
            return response
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close every connection; the pool can't be used afterwards."""
        self._closed = True
        for connection in list(self._open):
            connection.close()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ConnectError("the client is closed"))
        self._waiters.clear()

    async def _acquire(self, origin: tuple[str, str, int]) -> tuple[_Connection, bool]:
        while True:
            if self._closed:
                raise ConnectError("the client is closed")
            idle = self._idle.get(origin)
            now = self.loop.time()
            while idle:
                connection = idle.pop()
                if not connection.closed and now - connection.idle_since < self.idle_seconds:
                    return connection, True
                connection.close()
            if len(self._open) < self.max_connections or self._evict_idle():
                return await self._connect(origin), False
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled before running: pass the turn on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        secure = scheme == "https"
        connection = _Connection(self, origin)
        self._open.add(connection)
        try:
            await self.loop.create_connection(
                lambda: connection,
                host,
                port,
                ssl=self._ssl_context() if secure else None,
                server_hostname=host if secure else None,
            )
        except BaseException as exc:
            connection.closed = True
            self._forget(connection)
            if isinstance(exc, (OSError, ssl.SSLError)):
                raise ConnectError(f"could not connect ({type(exc).__name__})") from None
            raise
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _close_idle(self, origin: tuple[str, str, int]) -> None:
        for connection in self._idle.pop(origin, []):
            connection.close()

    def _evict_idle(self) -> bool:
        """Close one idle connection (of any origin) to make room; whether there was one."""
        for connections in self._idle.values():
            if connections:
                connections.pop(0).close()
                return True
        return False

    def _put(self, connection: _Connection) -> None:
        if self._closed or connection.closed:
            connection.close()
            return
        connection.idle_since = self.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_one()

    def _forget(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            idle = self._idle.get(connection.origin)
            if idle and connection in idle:
                idle.remove(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
