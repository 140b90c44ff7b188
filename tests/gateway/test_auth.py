"""Gateway API keys: 401 without one, 403 for a policy it may not use, and keys never leak."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY, set_knobs

TEAM_KEY = "tg-team-a-7f3c9e2b1d4a6f8e0c5b"
LIMITED_KEY = "tg-limited-2b8d4f6a0c1e3g5h7j9k"
HASHED_KEY = "tg-hashed-only-9a8b7c6d5e4f3a2b"
CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "keys": [
                    {"key": TEAM_KEY, "tenant": "team-a", "policies": ["*"]},
                    {"key": LIMITED_KEY, "tenant": "limited", "policies": ["local"]},
                    {"sha256": hashlib.sha256(HASHED_KEY.encode()).hexdigest(), "tenant": "hashed"},
                ]
            }
        )
    )
    return path


@pytest.fixture
def secured(gateway_factory: Callable[..., GatewayProcess], keys_file: Path) -> GatewayProcess:
    return gateway_factory(env={"TIERGATE_AUTH_KEYS_FILE": str(keys_file)})


def _post(gateway: GatewayProcess, key: str | None, **body: object) -> httpx.Response:
    headers = {**CHAT, **({"authorization": f"Bearer {key}"} if key else {})}
    return httpx.post(f"{gateway.base_url}/chat/completions", json={**BODY, **body}, headers=headers, timeout=20)


def test_no_key_is_401_in_openai_format(secured: GatewayProcess) -> None:
    response = _post(secured, None)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_wrong_key_and_wrong_scheme_are_401(secured: GatewayProcess) -> None:
    assert _post(secured, "tg-not-a-key").status_code == 401
    basic = httpx.post(
        f"{secured.base_url}/chat/completions", json=BODY, headers={"authorization": f"Basic {TEAM_KEY}"}
    )
    assert basic.status_code == 401


def test_valid_keys_route_and_the_openai_client_works(secured: GatewayProcess) -> None:
    assert _post(secured, TEAM_KEY).status_code == 200
    assert _post(secured, HASHED_KEY).status_code == 200
    with openai.OpenAI(base_url=secured.base_url, api_key=TEAM_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content


def test_key_without_the_policy_is_403_and_sees_only_its_models(secured: GatewayProcess) -> None:
    response = _post(secured, LIMITED_KEY)
    assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"
    assert _post(secured, LIMITED_KEY, model="local").status_code == 200
    models = httpx.get(f"{secured.base_url}/models", headers={"authorization": f"Bearer {LIMITED_KEY}"}).json()
    assert [m["id"] for m in models["data"]] == ["local"]
    explain = httpx.post(
        f"{secured.url}/v1/route/explain", json=BODY, headers={"authorization": f"Bearer {LIMITED_KEY}"}
    )
    assert explain.status_code == 403


def test_probes_and_metrics_need_no_key(secured: GatewayProcess) -> None:
    assert httpx.get(f"{secured.url}/healthz").status_code == 200
    assert httpx.get(f"{secured.url}/readyz").status_code == 200


def test_rotated_keys_file_is_picked_up(secured: GatewayProcess, keys_file: Path) -> None:
    keys_file.write_text(yaml.safe_dump({"keys": [{"key": "tg-new-key-0000000000000000", "tenant": "b"}]}))
    deadline = time.monotonic() + 10
    while _post(secured, "tg-new-key-0000000000000000").status_code != 200:
        assert time.monotonic() < deadline, "the new key was not loaded"
        time.sleep(0.2)
    assert _post(secured, TEAM_KEY).status_code == 401
    keys_file.write_text("keys: [oops")  # broken: the last good keys stay
    time.sleep(2.5)
    assert _post(secured, "tg-new-key-0000000000000000").status_code == 200


def test_keys_never_reach_logs_error_bodies_or_upstreams(
    secured: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    bodies = [_post(secured, TEAM_KEY).text, _post(secured, "tg-wrong-" + TEAM_KEY).text]
    for process in upstreams.values():
        set_knobs(process, error_rate=1.0)
    bodies.append(_post(secured, TEAM_KEY).text)  # every tier fails: the 503 explains why
    bodies.append(
        httpx.post(f"{secured.url}/v1/route/explain", json=BODY, headers={"authorization": f"Bearer {TEAM_KEY}"}).text
    )
    seen_upstream = [
        r["headers"] for p in upstreams.values() for r in httpx.get(f"{p.url}/sim/stats").json()["recent_requests"]
    ]
    text = "\n".join(bodies) + secured.logs()
    for secret in (TEAM_KEY, API_KEY, LIMITED_KEY, HASHED_KEY):
        assert secret not in text
    # the gateway key is never forwarded; only remote-a receives its own provider key
    assert all(TEAM_KEY not in str(headers) for headers in seen_upstream)
    assert any(headers.get("authorization") == f"Bearer {API_KEY}" for headers in seen_upstream)
