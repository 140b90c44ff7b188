"""Reading request bodies within the configured size limit."""

from __future__ import annotations

from starlette.requests import Request

from tiergate_gateway.errors import InvalidRequestError, PayloadTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
        except ValueError:
            raise InvalidRequestError("Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
