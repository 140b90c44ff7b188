"""Reading request bodies within a size limit and a time limit, before any slot is taken.

A body is read before the request counts against the gateway's in-flight cap: a client that
sends headers and then trickles its body (or nothing) must not hold a slot every tenant needs.
Its time is bounded instead: `body_timeout_seconds` (10 s) to start, then at least
`body_min_bytes_per_second` (64 KiB/s) (nginx's `client_body_timeout` and Envoy's request
timeout do the same job). Slow uploads are counted in `tiergate_slow_uploads_total`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request

from tiergate_gateway.core.errors import InvalidRequestError, PayloadTooLargeError, RequestTimeoutError
from tiergate_gateway.server.api.departure import ClientGone
from tiergate_gateway.telemetry import metrics

if TYPE_CHECKING:
    from tiergate_gateway.server.settings import GatewaySettings


async def read_body(request: Request, settings: GatewaySettings) -> bytes:
    """The whole body: 413 as soon as it grows past the size limit, 408 when it comes too slowly,
    ClientGone when the client leaves during the upload."""
    limit = settings.max_body_bytes
    seconds, min_rate = settings.body_timeout_seconds, settings.body_min_bytes_per_second
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
        except ValueError:
            raise InvalidRequestError("Content-Length is not a number") from None
    whole = _already_whole(request)
    if whole is not None:
        if len(whole) > limit:
            raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
        return whole
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(seconds) as allowed:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
                chunks.append(chunk)
                allowed.reschedule(started + seconds + size / min_rate)
    except TimeoutError:
        metrics.SLOW_UPLOADS.inc()
        raise RequestTimeoutError(
            f"the request body did not arrive in time ({size} bytes received; allowed {seconds:g} s "
            f"plus one second per {min_rate / 1024:g} KiB)"
        ) from None
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


def _already_whole(request: Request) -> bytes | None:
    """The body when the server has all of it already (the usual case: it came with the head), else None.

    Then it is taken without a timer: arming and rescheduling the time limit cost about a tenth
    of the gateway's CPU per request (two timer handles). It looks at uvicorn's request cycle
    (`receive` is its bound method); with another server, or a body still arriving, the timed
    path below reads it. tests/gateway/test_hostile_requests.py pins both paths.
    """
    cycle = getattr(request.receive, "__self__", None)
    if cycle is None or getattr(cycle, "more_body", True) is not False or getattr(cycle, "disconnected", True):
        return None
    body = getattr(cycle, "body", None)
    if not isinstance(body, bytearray):
        return None
    whole = bytes(body)
    # What uvicorn's receive() does when it hands the body over.
    cycle.body = bytearray()
    cycle.message_event.clear()
    cycle.flow.resume_reading()
    return whole
