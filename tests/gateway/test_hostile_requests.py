"""Hostile clients on loopback: slow and aborted uploads, bodies that break parsers, and a
property test that any JSON body gets 2xx or 4xx from both routing endpoints, never a 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess

CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def _stalled_upload(gateway: GatewayProcess, path: str = "/v1/chat/completions") -> socket.socket:
    """A connection that promised 1,000 bytes of body and sent a few."""
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    ).encode()
    sent = b'{"model":'
    sock.sendall(head + sent)
    return sock


@pytest.fixture
def stalled(gateway_factory: Callable[..., GatewayProcess]) -> Iterator[tuple[GatewayProcess, list[socket.socket]]]:
    env = {"TIERGATE_MAX_IN_FLIGHT": "10", "TIERGATE_BODY_TIMEOUT_SECONDS": "1.5"}
    gateway = gateway_factory(env=env)
    sockets = [_stalled_upload(gateway) for _ in range(60)]
    yield gateway, sockets
    for sock in sockets:
        sock.close()


def test_stalled_uploads_hold_no_slot_every_tenant_needs(
    stalled: tuple[GatewayProcess, list[socket.socket]], upstreams: dict[str, SimProcess]
) -> None:
    gateway, sockets = stalled
    time.sleep(0.3)  # the sixty stalled bodies are all being read now
    for _ in range(3):
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=10)
        assert response.status_code == 200, response.text  # was 429 gateway_overloaded: slots went first
    answer = sockets[0].recv(65536)  # after the body's time limit, each stalled upload gets its 408
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert "tiergate_slow_uploads_total" in metrics and "tiergate_slow_uploads_total 0.0" not in metrics


def test_a_body_that_arrives_in_pieces_within_its_time_is_read_whole(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    """The timed path: a body that did not come with the head, in pieces."""
    gateway = gateway_factory()
    body = orjson.dumps({**BODY, "messages": [{"role": "user", "content": "x " * 6_000}]})
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"x-tiergate-task: Chat\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        sock.sendall(head)
        for start in range(0, len(body), 4_000):
            time.sleep(0.1)
            sock.sendall(body[start : start + 4_000])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[-400:]


def test_an_aborted_upload_is_a_client_disconnect_not_an_error(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory()
    for path in ("/v1/chat/completions", "/v1/route/explain"):
        sock = _stalled_upload(gateway, path)
        time.sleep(0.1)
        sock.close()
    time.sleep(0.3)
    assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).status_code == 200
    logs = gateway.logs()
    assert "Traceback" not in logs and '"level": "ERROR"' not in logs
    assert '"status":499' in logs


HOSTILE_BODIES = [
    {**BODY, "messages": [{"role": ["user"], "content": "x"}]},
    {**BODY, "messages": [{"role": {"r": 1}, "content": "x"}]},
    {**BODY, "messages": [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}]},
    {**BODY, "response_format": {"type": ["json_object"]}},
    {**BODY, "stream": None, "max_tokens": None, "tools": None},
    {**BODY, "messages": [{"role": "user", "content": [{"type": "text", "text": ["x"]}]}]},
    {**BODY, "messages": [{"role": "user", "content": None}]},
    {**BODY, "stream_options": ["include_usage"], "stream": True},
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route/explain"])
def test_wrong_shapes_where_strings_belong_get_a_4xx_or_an_answer(
    shared_gateway: GatewayProcess, body: dict[str, object], path: str
) -> None:
    response = httpx.post(f"{shared_gateway.url}{path}", json=body, headers=CHAT, timeout=30)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route/explain"])
@pytest.mark.parametrize("depth", [200, 256, 300, 1000, 5000])
def test_deeply_nested_bodies_get_a_4xx_or_an_answer(shared_gateway: GatewayProcess, path: str, depth: int) -> None:
    nested = ("[" * depth + "1" + "]" * depth).encode()
    raw = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + nested + b"}"
    response = httpx.post(
        f"{shared_gateway.url}{path}", content=raw, headers={**CHAT, "content-type": "application/json"}
    )
    assert response.status_code < 500, response.text


_SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text()
_ANY = st.recursive(
    _SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner), max_leaves=20
)
_FIELDS = ["role", "content", "type", "text", "name", "tool_calls", "image_url"]
_MESSAGE = st.dictionaries(st.sampled_from(_FIELDS), _ANY | st.sampled_from(["user", "system", "text", "hi"]))
_REQUEST = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "remote-a", 5, None])},
    optional={
        "messages": st.lists(_MESSAGE | _ANY, max_size=4) | _ANY,
        "prompt": _ANY,
        "stream": _ANY,
        "max_tokens": _ANY,
        "max_completion_tokens": _ANY,
        "response_format": st.dictionaries(st.just("type"), _ANY) | _ANY,
        "tools": _ANY,
        "stream_options": _ANY,
    },
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_REQUEST)
def test_any_json_request_gets_2xx_or_4xx_never_5xx(shared_gateway: GatewayProcess, body: dict[str, object]) -> None:
    raw = orjson.dumps(body)
    with httpx.Client(base_url=shared_gateway.url, timeout=30) as client:
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/route/explain"):
            response = client.post(path, content=raw, headers={**CHAT, "content-type": "application/json"})
            assert response.status_code < 500, (path, response.text)


def test_peak_memory_after_the_hostile_requests_stays_under_150_mb(shared_gateway: GatewayProcess) -> None:
    """Runs last in this module: the shared gateway has taken every hostile request above."""
    status = open(f"/proc/{shared_gateway.process.pid}/status").read()  # noqa: SIM115
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    assert peak_kb < 150 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
