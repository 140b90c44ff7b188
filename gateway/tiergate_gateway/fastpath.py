"""The ASGI front door: the two completion routes skip FastAPI's generic machinery.

Every request to `POST /v1/chat/completions` and `POST /v1/completions` goes straight to
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

from tiergate_gateway.api.completions import chat_completions, completions
from tiergate_gateway.errors import GatewayError

log = logging.getLogger(__name__)

_HOT: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "/v1/chat/completions": chat_completions,
    "/v1/completions": completions,
}


def error_response(exc: GatewayError) -> JSONResponse:
    """A GatewayError as OpenAI's error body with its status and headers."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def internal_error_response() -> JSONResponse:
    """The answer to a bug: a generic 500 in OpenAI's format, never a traceback."""
    body = {
        "error": {"message": "internal gateway error", "type": "server_error", "param": None, "code": "internal_error"}
    }
    return JSONResponse(body, status_code=500)


class FastPath:
    """Wraps the FastAPI app; attribute access falls through to it (state, router, ...)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = _HOT.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        try:
            response = await handler(Request(scope, receive, send))
        except GatewayError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unexpected error while handling a request")
            response = internal_error_response()
        await response(scope, receive, send)
