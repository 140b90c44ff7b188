"""Who may call: the gateway key check shared by the API routes."""

from __future__ import annotations

from starlette.requests import Request

from tiergate_gateway.server.auth import KeyStore, Tenant


def authenticate(request: Request) -> Tenant | None:
    """The caller's tenant (401 without a valid key), or None when authentication is off."""
    keys: KeyStore | None = request.app.state.keys
    if keys is None:
        return None
    return keys.authenticate(request.headers.get("authorization"))
