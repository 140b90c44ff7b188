"""The seam between the attempt loop and the wire: what a transport to the tiers must do,
and the one exception hierarchy of the upstream layer.

A transport sends one POST and hands back the answer's status and headers, with its body
read chunk by chunk. Everything above it (status mapping, size limits, the first event of a
stream, timeouts) lives in `forward.py` and is the same for every transport. Timeouts are
cancellation: `forward.py` wraps each exchange in `asyncio.timeout`, so a transport has no
timeout settings of its own and must leave nothing open when a call is cancelled.

The default transport is `http11.Pool`, our own keep-alive HTTP/1.1 client (the fastest we
measured, docs/decisions.md). A second one (httpx-based, for tiers behind an egress proxy or
that need mTLS or a private CA) implements the same two protocols, maps its library's errors
to the `TransportError`s below, and is chosen per tier in front of the dispatcher. Its library
closes connections asynchronously while `release` and `close` here are synchronous (they run
on cancellation paths, where awaiting is unsafe): it would keep the closes it starts and await
them in `Transport.close`.

Errors, all `UpstreamError`s:

    UpstreamError
    ├── TransportError              the exchange itself failed (raised by transports)
    │   ├── ConnectError
    │   ├── ServerDisconnectedError
    │   ├── InvalidResponseError
    │   ├── InvalidHeaderError
    │   └── InvalidUrlError
    ├── AttemptFailure              (forward.py) this tier failed; another may answer
    ├── UpstreamClientError         (forward.py) the tier rejected the request itself
    └── DeadlineReached             (forward.py) the caller's deadline passed mid-stream

A transport signals a read that found nothing within its `timeout` with the built-in
`TimeoutError`, as asyncio does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class UpstreamError(Exception):
    """Something went wrong talking to a tier (the base of every upstream error)."""


class TransportError(UpstreamError):
    """The exchange with the tier's server failed; messages never contain URLs or credentials."""


class ConnectError(TransportError):
    """No connection could be opened."""


class ServerDisconnectedError(TransportError):
    """The server closed the connection before the answer was complete."""


class InvalidResponseError(TransportError):
    """What came back is not a well-formed HTTP response."""


class InvalidHeaderError(TransportError):
    """A request header name or value would break the request (a line break in a credential, say)."""


class InvalidUrlError(TransportError):
    """The URL is not an absolute http(s) URL with a valid host and port."""


class UpstreamResponse(Protocol):
    """An answer whose status and headers have arrived; its body is read with `read_chunk`.

    It holds a connection until `release` or `close`; exactly one of them ends every response.
    """

    @property
    def status(self) -> int:
        """The final HTTP status (interim 1xx answers are never seen)."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, names in lower case."""
        ...

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        """Whatever body bytes have arrived, waiting up to `timeout` for some; b"" at the end.

        Raises TimeoutError when nothing arrived in time, a TransportError when the exchange broke.
        """
        ...

    def at_eof(self) -> bool:
        """Whether the whole body has arrived and been read."""
        ...

    def release(self) -> None:
        """Give the connection back for reuse when the body was read to its end; else close it."""
        ...

    def close(self) -> None:
        """Drop the connection whatever state the answer is in (the server sees the caller leave)."""
        ...


class Transport(Protocol):
    """Sends requests to tiers; one is shared by every attempt of a gateway process."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        """Send a POST and wait for the answer's status and headers (cancel from outside to time out)."""
        ...

    async def close(self) -> None:
        """Close every connection; the transport can't be used afterwards."""
        ...
