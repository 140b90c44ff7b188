"""The ASGI front door: the two completion routes skip FastAPI's generic machinery.

Every HTTP request gets its `x-request-id` here (`api/requestid.py`). Every request to
`POST /v1/chat/completions` and `POST /v1/completions` goes straight to
its handler (the same `api/completions.py` code FastAPI would call), with the same error
mapping as the app's exception handlers; everything else (models, explain, probes,
metrics, the lifespan) goes through the FastAPI app. Measured in bench/: FastAPI's
middleware stack, route matching and dependency machinery were about a third of the
gateway's CPU per request, and these two routes need none of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.server.api.completions import chat_completions, completions
from tiergate_gateway.server.api.requestid import REQUEST_ID_HEADER, assign_request_id, sending_request_id

log = logging.getLogger(__name__)

_HOT: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "/v1/chat/completions": chat_completions,
    "/v1/completions": completions,
}


def error_response(exc: GatewayError, request_id: str | None = None) -> JSONResponse:
    """A GatewayError as OpenAI's error body with its status and headers."""
    headers = {**exc.headers, REQUEST_ID_HEADER: request_id} if request_id else exc.headers
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def internal_error_response(request_id: str | None = None) -> JSONResponse:
    """The answer to a bug: a generic 500 in OpenAI's format, never a traceback."""
    body = {
        "error": {"message": "internal gateway error", "type": "server_error", "param": None, "code": "internal_error"}
    }
    return JSONResponse(body, status_code=500, headers={REQUEST_ID_HEADER: request_id} if request_id else None)


class FastPath:
    """Wraps the FastAPI app; attribute access falls through to it (state, router, ...)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope)
        handler = _HOT.get(scope["path"]) if scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, sending_request_id(send, request_id))
            return
        scope["app"] = self.app
        try:
            response = await handler(Request(scope, receive, send))
        except GatewayError as exc:
            response = error_response(exc, request_id)
        except Exception:
            log.exception("unexpected error while handling a request")
            response = internal_error_response(request_id)
        await response(scope, receive, send)
