"""The ASGI front door: the two completion routes skip FastAPI's generic machinery.

Every HTTP request gets its `x-request-id` here (`api/requestid.py`). `POST /v1/chat/completions`
and `POST /v1/completions` are served here and only here (`api/completions.ROUTES`; FastAPI has
no route for them), with the same error mapping as the app's exception handlers; another method
on those paths gets 405. Everything else (models, explain, probes, metrics, the lifespan) goes
through the FastAPI app. Measured in bench/: FastAPI's
middleware stack, route matching and dependency machinery were about a third of the
gateway's CPU per request, and these two routes need none of it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tiergate_gateway.core.errors import SHOULD_RETRY_HEADER, GatewayError
from tiergate_gateway.server.api.completions import ROUTES
from tiergate_gateway.server.api.requestid import REQUEST_ID_HEADER, assign_request_id, sending_request_id

log = logging.getLogger(__name__)



def error_response(exc: GatewayError, request_id: str | None = None) -> JSONResponse:
    """A GatewayError as OpenAI's error body with its status and headers."""
    headers = {**exc.headers, REQUEST_ID_HEADER: request_id} if request_id else exc.headers
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def http_error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A plain HTTP error (no route, wrong method) in OpenAI's format; retrying cannot fix it."""
    kind = "not_found" if status == 404 else "invalid_request_error"
    message = "no such endpoint" if status == 404 else detail
    body = {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), SHOULD_RETRY_HEADER: "false"})


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
        handler = ROUTES.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, sending_request_id(send, request_id))
            return
        if scope["method"] != "POST":
            refusal = http_error_response(405, "Method Not Allowed", {"Allow": "POST", REQUEST_ID_HEADER: request_id})
            await refusal(scope, receive, send)
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
