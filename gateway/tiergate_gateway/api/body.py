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

from tiergate_gateway import metrics
from tiergate_gateway.api.departure import ClientGone
from tiergate_gateway.errors import InvalidRequestError, PayloadTooLargeError, RequestTimeoutError

if TYPE_CHECKING:
    from tiergate_gateway.settings import GatewaySettings


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
