"""The fast path is the one and only path of the two completion routes."""

from __future__ import annotations

import httpx
import pytest

from tiergate_gateway.server.app import create_app
from tiergate_gateway.server.settings import GatewaySettings

HOT = ("/v1/chat/completions", "/v1/completions")


@pytest.fixture
def app(tmp_path):  # type: ignore[no-untyped-def]
    return create_app(GatewaySettings(config_dir=tmp_path))


@pytest.mark.parametrize("path", HOT)
async def test_completion_routes_are_served_by_the_fast_path_alone(app, path: str) -> None:  # type: ignore[no-untyped-def]
    # The FastAPI app behind the fast path has no route for them: one path per endpoint.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.app), base_url="http://gw") as client:
        behind = await client.post(path, json={})
        models = await client.get("/v1/models")
    assert behind.status_code == 404
    assert models.status_code != 404


@pytest.mark.parametrize("path", HOT)
async def test_another_method_on_a_completion_route_is_405_in_openai_shape(app, path: str) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["x-request-id"]
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_an_unknown_path_is_404_in_openai_shape(app) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.post("/v1/chat/completion")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "no such endpoint",
        "type": "not_found",
        "param": None,
        "code": "404",
    }
