"""`x-request-id`: one id per request, on every response, in the access log and on the server span.

A caller's own id is kept when it is a sane token (so a request can be followed across
proxies, as Envoy does); otherwise the gateway makes one in OpenAI's style (`req_` and 32
hex digits), which the official SDKs expose as `_request_id`. It is also sent to the tier,
where vLLM uses it as its own request id.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from typing import Any, Final

from starlette.types import Message, Scope, Send

REQUEST_ID_HEADER: Final = "x-request-id"
_RAW_HEADER: Final = REQUEST_ID_HEADER.encode()
_SCOPE_KEY: Final = "tiergate.request_id"
_SANE: Final = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")


def new_request_id() -> str:
    """A fresh id: `req_` and 128 random bits in hex."""
    return "req_" + os.urandom(16).hex()


def assign_request_id(scope: MutableMapping[str, Any]) -> str:
    """The request's id (the caller's when sane, else a new one), remembered in the ASGI scope."""
    for name, value in scope["headers"]:
        if name == _RAW_HEADER:
            found = value.decode("ascii") if _SANE.fullmatch(value) else new_request_id()
            break
    else:
        found = new_request_id()
    scope[_SCOPE_KEY] = found
    return found


def request_id_of(scope: Scope) -> str:
    """The id `assign_request_id` gave this request (a new one if it never ran, as in some tests)."""
    found = scope.get(_SCOPE_KEY)
    return found if isinstance(found, str) else new_request_id()


def sending_request_id(send: Send, request_id: str) -> Send:
    """`send`, adding the `x-request-id` header to the response head."""
    raw = request_id.encode()

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (_RAW_HEADER, raw)]
        await send(message)

    return send_with_id
