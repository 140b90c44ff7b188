"""HTTP to the tiers over a `Transport`, failures mapped to fallback reasons.

This is the only module that talks to model servers, and the one boundary where what a
transport raises becomes what the attempt loop acts on: an `AttemptFailure` (move on to the
next tier) or an `UpstreamClientError` (the request itself is wrong; tell the client), both
`UpstreamError`s. Messages name the tier, never its URL or key.

The default transport went httpx -> aiohttp -> our own small HTTP/1.1 client (`http11.py`),
each step measured on these 2-core machines (docs/decisions.md): the client was the largest
cost on the hot path.

Time: latencies are measured with `timer` (high resolution; uvloop's clock has only whole
milliseconds), a Retry-After date is read against `clock` (wall time), and a stream's deadline
against the running loop's clock, the one its timeouts run on.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tiergate_gateway.core.views import TierView
from tiergate_gateway.upstream.http11 import Pool
from tiergate_gateway.upstream.streamtap import MAX_EVENT_BYTES
from tiergate_gateway.upstream.transport import (
    InvalidHeaderError,
    InvalidResponseError,
    Transport,
    TransportError,
    UpstreamError,
    UpstreamResponse,
)

_PATHS: Final = {"chat": "/chat/completions", "completions": "/completions"}
_MAX_ERROR_BYTES: Final = 1024 * 1024
"""An error answer to a stream request is read whole (it is relayed or logged), up to this size."""


class FailureKind(StrEnum):
    """Why an attempt failed; the first four match the policy's `retryOn` values."""

    SERVER_ERROR = "ServerError"
    RATE_LIMITED = "RateLimited"
    TIMEOUT = "Timeout"
    CONNECTION_ERROR = "ConnectionError"
    UPSTREAM_REJECTED = "UpstreamRejected"
    """The tier refused our credentials or model name: a tier problem, always worth a fallback."""
    INVALID_RESPONSE = "InvalidResponse"


class AttemptFailure(UpstreamError):
    """An attempt failed in a way that another tier may not."""

    def __init__(self, kind: FailureKind, detail: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class DeadlineReached(UpstreamError):
    """The request's own deadline passed while its stream was being relayed (the caller's limit, not the tier's)."""


class UpstreamClientError(UpstreamError):
    """The tier rejected the request itself (400, 413, 422): relayed to the client as it is."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
        self.content_type = content_type


@dataclass(slots=True)
class Reply:
    """A complete non-streaming answer."""

    body: bytes
    content_type: str
    ttft_ms: float


@dataclass(slots=True)
class StreamHandle:
    """An open stream whose first chunk has already arrived."""

    response: UpstreamResponse
    first_chunk: bytes
    rest: AsyncIterator[bytes]
    """The chunks after the first. Raises DeadlineReached when the request's deadline passes,
    TimeoutError when the tier goes silent longer than its read timeout, a TransportError when
    the connection breaks."""
    ttft_ms: float

    async def aclose(self, *, finished: bool = False) -> None:
        """Give the connection back when the stream ended; else close it (which cancels the generation).

        After `[DONE]` the chunked body's terminator may still be on its way: wait for it briefly,
        so the pooled connection is reused instead of a new one being opened for the next request.
        """
        response = self.response
        try:
            if finished and not response.at_eof():
                async with asyncio.timeout(1.0):
                    while await response.read_chunk():
                        pass
        except (TimeoutError, TransportError):
            pass
        finally:  # cancelled while draining, too: the connection is closed, never left open
            response.release()


def new_client(max_connections: int = 1000) -> Transport:
    """The default transport: a shared pool of keep-alive HTTP/1.1 connections (timeouts are set per attempt)."""
    return Pool(max_connections=max_connections)


def _headers(tier: TierView, extra: dict[str, str]) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json", **extra}
    if tier.api_key is not None:
        headers["authorization"] = f"Bearer {tier.api_key.get_secret_value()}"
    return headers


def _failure(exc: BaseException, timed_out: str) -> BaseException:
    """What an attempt that ended with `exc` raises: a fallback reason for a transport failure
    (the detail never names the URL), anything else as it is (refusals, cancellation)."""
    if isinstance(exc, TimeoutError):
        return AttemptFailure(FailureKind.TIMEOUT, timed_out)
    if isinstance(exc, InvalidResponseError):
        return AttemptFailure(FailureKind.INVALID_RESPONSE, "the answer is not valid HTTP")
    if isinstance(exc, InvalidHeaderError):
        detail = "the tier's request headers are invalid (a credential with a line break?)"
        return AttemptFailure(FailureKind.UPSTREAM_REJECTED, detail)
    if isinstance(exc, (TransportError, OSError)):  # OSError: a transport that let one through
        return AttemptFailure(FailureKind.CONNECTION_ERROR, f"connection failed ({type(exc).__name__})")
    return exc


async def complete(
    transport: Transport,
    tier: TierView,
    endpoint: str,
    body: bytes,
    timeout: float,
    headers: dict[str, str],
    *,
    max_bytes: int = 64 * 1024 * 1024,
    clock: Callable[[], float] = time.time,
    timer: Callable[[], float] = time.perf_counter,
    base_url: str | None = None,
) -> Reply:
    """Send a non-streaming request (to `base_url`, one replica, else the tier's URL); raise
    AttemptFailure or UpstreamClientError."""
    url = f"{base_url or tier.url}{_PATHS[endpoint]}"
    started = timer()
    response: UpstreamResponse | None = None
    try:
        async with asyncio.timeout(timeout):
            response = await transport.post(url, body, _headers(tier, headers))
            content = await read_limited(response, max_bytes)
        response.release()
    except BaseException as exc:  # however the attempt ends, its connection is never leaked
        close_response(response)
        raise _failure(exc, f"no answer within {timeout:g}s") from None
    elapsed_ms = (timer() - started) * 1000
    _raise_for_status(response.status, response.headers, content, clock)
    return Reply(content, response.headers.get("content-type", "application/json"), elapsed_ms)


async def open_stream(
    transport: Transport,
    tier: TierView,
    endpoint: str,
    body: bytes,
    timeout: float,
    headers: dict[str, str],
    read_timeout: float | None = None,
    *,
    deadline_seconds: float | None = None,
    clock: Callable[[], float] = time.time,
    timer: Callable[[], float] = time.perf_counter,
    base_url: str | None = None,
) -> StreamHandle:
    """Open a stream and wait for its first chunk, so a failure before it can still fall back.

    Anything that is not the start of an event stream (another content type, a JSON or HTML body
    with status 200, a redirect) is a failed attempt: it has not reached the client yet, so the
    next tier can still answer. `deadline_seconds` bounds the whole stream, not only its start.
    `base_url` names one replica of the tier; without it the tier's own URL is used.
    """
    url = f"{base_url or tier.url}{_PATHS[endpoint]}"
    started = timer()
    until = None if deadline_seconds is None else asyncio.get_running_loop().time() + deadline_seconds
    response: UpstreamResponse | None = None
    try:
        async with asyncio.timeout(timeout):
            response = await transport.post(url, body, _headers(tier, {**headers, "accept": "text/event-stream"}))
            if response.status != 200:
                content = await read_limited(response, _MAX_ERROR_BYTES)
                response.release()
                _raise_for_status(response.status, response.headers, content, clock)
            if not response.headers.get("content-type", "").lower().startswith("text/event-stream"):
                raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream's answer is not an event stream")
            first = await _first_event(response)
    except BaseException as exc:  # also a refused answer or a client that went away: never leak the connection
        close_response(response)
        raise _failure(exc, f"no first byte within {timeout:g}s") from None
    rest = _rest(response, read_timeout or tier.timeout_seconds, until)
    return StreamHandle(response, first, rest, (timer() - started) * 1000)


_SSE_FIELD_STARTS: Final = (b"data:", b":", b"event:", b"id:", b"retry:")
"""What the first line of an event stream can be (the WHATWG field names, and a comment)."""
_EVENT_ENDS: Final = (b"\n\n", b"\r\n\r\n", b"\r\r")


async def _first_event(response: UpstreamResponse) -> bytes:
    """The stream's bytes up to the end of its first whole event: until then nothing has reached the
    client, so a stream that starts wrong (not an event, or an event that never ends) can still fall
    back to the next tier."""
    first = b""
    while True:
        chunk = await response.read_chunk()
        if not chunk:
            raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream ended before its first event")
        first += chunk
        start = first.lstrip(b"\xef\xbb\xbf\r\n")  # a byte-order mark and blank lines may come first
        if not start.startswith(_SSE_FIELD_STARTS):
            if not start or any(field.startswith(start) for field in _SSE_FIELD_STARTS):
                continue  # too few bytes yet to tell
            raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream does not start with an event")
        if any(end in first for end in _EVENT_ENDS):
            return first
        if len(first) > MAX_EVENT_BYTES:
            raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream's first event is too long")


async def _rest(response: UpstreamResponse, read_timeout: float, until: float | None) -> AsyncIterator[bytes]:
    """The stream's remaining chunks; a silence longer than `read_timeout` is a TimeoutError, and
    the request's deadline (`until`, by the loop's clock) passing is DeadlineReached."""
    loop = asyncio.get_running_loop()
    while True:
        wait, deadline_bound = read_timeout, False
        if until is not None:
            left = until - loop.time()
            if left <= 0:
                raise DeadlineReached
            if left <= wait:
                wait, deadline_bound = left, True
        try:
            chunk = await response.read_chunk(wait)
        except TimeoutError:
            # Which limit ran out is known from the wait chosen: a timer may fire a hair before
            # `until` by the clock, and that must still be the caller's deadline, not the tier's silence.
            if deadline_bound:
                raise DeadlineReached from None
            raise
        if not chunk:
            return
        yield chunk


async def read_limited(response: UpstreamResponse, max_bytes: int) -> bytes:
    """The body, or an InvalidResponse failure as soon as it is larger than `max_bytes`."""
    too_big = AttemptFailure(FailureKind.INVALID_RESPONSE, f"the answer is larger than {max_bytes} bytes")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.read_chunk():
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def close_response(response: UpstreamResponse | None) -> None:
    if response is not None:
        response.close()


def _raise_for_status(status: int, headers: Mapping[str, str], content: bytes, clock: Callable[[], float]) -> None:
    if status < 300:
        return
    if status < 400:  # never followed: a tier that redirects elsewhere is misconfigured or compromised
        raise AttemptFailure(
            FailureKind.INVALID_RESPONSE, f"the tier answered with a redirect ({status})", status=status
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"), clock())
        raise AttemptFailure(FailureKind.RATE_LIMITED, "rate limited (429)", status=status, retry_after=retry_after)
    if status >= 500:
        raise AttemptFailure(FailureKind.SERVER_ERROR, f"server error ({status})", status=status)
    if status == 408:  # the server gave up waiting for us (often a keep-alive race): not the client's fault
        raise AttemptFailure(FailureKind.TIMEOUT, "the tier timed out the request (408)", status=status)
    if status in (401, 403, 404):
        raise AttemptFailure(FailureKind.UPSTREAM_REJECTED, f"tier refused the request ({status})", status=status)
    raise UpstreamClientError(status, content, headers.get("content-type", "application/json"))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - (now if now is not None else time.time())
    return max(0.0, min(seconds, 3600.0))
