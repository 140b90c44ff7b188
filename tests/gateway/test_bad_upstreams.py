"""Upstreams that misbehave in ways the simulator does not: garbage, error bodies, huge answers."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import yaml

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY, write_config

CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
MODES = {
    "garbage": (200, b"{this is not json", "application/json"),
    "error-body": (200, b'{"error": {"message": "overloaded", "type": "server_error"}}', "application/json"),
    "huge": (200, b'{"choices": [{"text": "' + b"x" * 3_000_000 + b'"}]}', "application/json"),
    "truncated-stream": (
        200,
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n',
        "text/event-stream",
    ),
    "html-500": (500, b"<html>internal error at 10.0.0.7</html>", "text/html"),
    "request-timeout-408": (408, b'{"error": {"message": "idle connection timed out"}}', "application/json"),
    "vllm-flat-400": (
        400,
        b'{"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", '
        b'"param": "max_tokens", "code": 400}',
        "application/json",
    ),
    "negative-usage": (
        200,
        b'{"id": "x", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "message": '
        b'{"role": "assistant", "content": "hi"}, "finish_reason": "stop"}], '
        b'"usage": {"prompt_tokens": -40, "completion_tokens": -2, "total_tokens": -42}}',
        "application/json",
    ),
    "json-200": (200, b'{"id": "x", "object": "chat.completion", "choices": []}', "application/json"),
    "html-200": (200, b"<html>maintenance</html>", "text/html"),
    "sse-typed-json": (200, b'{"error": {"message": "overloaded"}}', "text/event-stream"),
    "redirect-302": (302, b"", "text/plain"),
    "html-400": (400, b"<html>bad request</html>", "text/html"),
    "done-then-cut": (
        200,
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\ndata: [DONE]\n\n',
        "text/event-stream",
    ),
}


class _Handler(BaseHTTPRequestHandler):
    mode = "garbage"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if type(self).mode == "echo-headers-400":  # a server whose error quotes the request, credentials included
            echoed = orjson.dumps({"error": {"message": f"rejected request with headers {dict(self.headers)}"}})
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(echoed)))
            self.end_headers()
            self.wfile.write(echoed)
            return
        status, body, content_type = MODES[type(self).mode]
        if type(self).mode == "redirect-302":  # to another host: must never be followed, nor relayed
            self.send_response(302)
            self.send_header("location", "http://198.51.100.7/v1/chat/completions")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        if type(self).mode == "done-then-cut":  # a whole SSE answer, then the connection drops before the body's end
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def bad_upstream() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()


@pytest.fixture
def gateway_over_bad(
    bad_upstream: tuple[str, type[_Handler]],
    gateway_factory: Callable[..., GatewayProcess],
    upstreams: dict[str, SimProcess],
    tmp_path: Path,
) -> tuple[GatewayProcess, type[_Handler]]:
    """A gateway whose primary, remote-a, is the misbehaving server."""
    url, handler = bad_upstream
    folder = write_config(tmp_path / "bad", upstreams)
    tiers = list(yaml.safe_load_all((folder / "tiers.yaml").read_text()))
    tiers[0]["spec"]["endpoint"]["url"] = url
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    return gateway_factory(config=folder, env={"TIERGATE_MAX_RESPONSE_BYTES": "1000000"}), handler


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("garbage", "InvalidResponse"),
        ("error-body", "InvalidResponse"),
        ("huge", "InvalidResponse"),
        ("html-500", "ServerError"),
        ("request-timeout-408", "Timeout"),
    ],
)
def test_misbehaving_primary_falls_back_without_leaking_it(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]], mode: str, reason: str
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = mode
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-tiergate-tier"] == "remote-b"
    assert response.headers["x-tiergate-fallback-reason"] == f"remote-a={reason}"
    assert "10.0.0.7" not in response.text


def test_truncated_stream_after_first_byte_ends_with_an_error_event(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "truncated-stream"
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True}, headers=CHAT, timeout=30
    )
    assert response.status_code == 200
    assert b'"Hel"' in response.content
    assert b'"error"' in response.content and response.content.endswith(b"data: [DONE]\n\n")


def test_a_whole_stream_whose_connection_drops_before_the_body_end_is_not_reported_broken(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "done-then-cut"
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True}, headers=CHAT, timeout=30
    )
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-a"
    assert b'"Hi"' in response.content and b'"error"' not in response.content
    assert response.content.count(b"[DONE]") == 1
    assert "broke after the first byte" not in gateway.logs()


def test_a_tiers_flat_vllm_error_reaches_the_sdk_in_openais_shape(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "vllm-flat-400"
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="unused", default_headers=CHAT, max_retries=0)
    with pytest.raises(openai.BadRequestError) as rejected:
        sdk.chat.completions.create(model="auto", messages=BODY["messages"])  # type: ignore[arg-type]
    error = rejected.value
    assert error.message.endswith("max_tokens is too large") and error.param == "max_tokens"
    assert isinstance(error.code, str) and error.code == "invalid_request"
    assert error.response.headers["x-tiergate-tier"] == "remote-a"
    assert error.response.headers["x-should-retry"] == "false"


def test_a_tiers_html_refusal_becomes_an_openai_error(gateway_over_bad: tuple[GatewayProcess, type[_Handler]]) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "html-400"
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and "<html>" not in error["message"]


def test_a_tier_error_that_quotes_our_request_never_shows_its_api_key(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "echo-headers-400"
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
    assert response.status_code == 400
    assert "rejected request with headers" in response.json()["error"]["message"]
    assert API_KEY not in response.text and "[redacted]" in response.text


def test_nonsense_usage_from_a_tier_is_answered_and_counted_not_a_500(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "negative-usage"
    for _ in range(2):
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
        assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-a"
    assert "tiergate_upstream_bad_usage_total 2.0" in httpx.get(f"{gateway.url}/metrics").text
    assert "Traceback" not in gateway.logs()


@pytest.mark.parametrize("mode", ["json-200", "html-200", "sse-typed-json", "redirect-302", "garbage"])
def test_a_stream_whose_first_answer_is_not_an_event_stream_falls_back(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]], mode: str
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = mode
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True}, headers=CHAT, timeout=30
    )
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-b"
    assert response.headers["x-tiergate-fallback-reason"] == "remote-a=InvalidResponse"
    assert response.content.endswith(b"data: [DONE]\n\n") and b"<html>" not in response.content


def test_a_redirect_from_a_tier_is_a_failure_not_an_answer(
    gateway_over_bad: tuple[GatewayProcess, type[_Handler]],
) -> None:
    gateway, handler = gateway_over_bad
    handler.mode = "redirect-302"
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-b"
    assert response.headers["x-tiergate-fallback-reason"] == "remote-a=InvalidResponse"
    assert "location" not in response.headers


# -- tiers that never stop: an endless header line, an endless event

import contextlib  # noqa: E402
import socketserver  # noqa: E402
from typing import BinaryIO, ClassVar  # noqa: E402


def _endless_header(wfile: BinaryIO) -> None:
    wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-endless: ")
    for _ in range(4096):  # up to 256 MiB, or until the gateway hangs up
        wfile.write(b"a" * 65536)


def _endless_event(wfile: BinaryIO, *, after_a_whole_one: bool = False) -> None:
    wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    if after_a_whole_one:
        whole = b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
        wfile.write(b"%x\r\n%s\r\n" % (len(whole), whole))
    wfile.write(b"6\r\ndata: \r\n")
    for _ in range(512):  # an event that never ends: 32 MiB with no blank line, or until the gateway hangs up
        wfile.write(b"10000\r\n" + b"x" * 65536 + b"\r\n")
    wfile.write(b"0\r\n\r\n")


class _ScriptedTier(socketserver.StreamRequestHandler):
    """Reads one request, then runs `script` on the raw connection."""

    script: ClassVar[Callable[[BinaryIO], None]] = staticmethod(_endless_header)

    def handle(self) -> None:
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        self.rfile.read(length)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the gateway hung up, as it should
            type(self).script(self.wfile)


@pytest.fixture
def gateway_over_scripted(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> Iterator[tuple[GatewayProcess, type[_ScriptedTier]]]:
    """A gateway whose primary, remote-a, runs a raw script instead of speaking HTTP properly."""
    handler = type("ScriptedTier", (_ScriptedTier,), {})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = write_config(tmp_path / "scripted", upstreams)
    tiers = list(yaml.safe_load_all((folder / "tiers.yaml").read_text()))
    tiers[0]["spec"]["endpoint"]["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    yield gateway_factory(config=folder), handler
    server.shutdown()
    server.server_close()


def _peak_rss_mib(gateway: GatewayProcess) -> float:
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def test_a_tier_whose_header_never_ends_is_an_invalid_response_and_costs_little_memory(
    gateway_over_scripted: tuple[GatewayProcess, type[_ScriptedTier]],
) -> None:
    gateway, handler = gateway_over_scripted
    handler.script = staticmethod(_endless_header)
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
    peak_before = _peak_rss_mib(gateway)
    for _ in range(3):
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
        assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-b"
        assert response.headers["x-tiergate-fallback-reason"] == "remote-a=InvalidResponse"
    growth = _peak_rss_mib(gateway) - peak_before
    assert growth < 24, f"the gateway's peak RSS grew by {growth:.0f} MiB"


def test_a_stream_whose_first_event_never_ends_falls_back_and_costs_little_memory(
    gateway_over_scripted: tuple[GatewayProcess, type[_ScriptedTier]],
) -> None:
    """Nothing has reached the client until the first whole event: the next tier can still answer."""
    gateway, handler = gateway_over_scripted
    handler.script = staticmethod(_endless_event)
    peak_before = _peak_rss_mib(gateway)
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True}, headers=CHAT, timeout=30
    )
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-b"
    assert response.headers["x-tiergate-fallback-reason"] == "remote-a=InvalidResponse"
    assert response.content.endswith(b"data: [DONE]\n\n") and b"xxxx" not in response.content
    growth = _peak_rss_mib(gateway) - peak_before
    assert growth < 24, f"the gateway's peak RSS grew by {growth:.0f} MiB"


def test_a_stream_whose_later_event_never_ends_is_cut_with_an_error_event_and_costs_little_memory(
    gateway_over_scripted: tuple[GatewayProcess, type[_ScriptedTier]],
) -> None:
    gateway, handler = gateway_over_scripted
    handler.script = staticmethod(functools.partial(_endless_event, after_a_whole_one=True))
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
    peak_before = _peak_rss_mib(gateway)
    body = {**BODY, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body, headers=CHAT, timeout=30) as streamed:
        assert streamed.status_code == 200 and streamed.headers["x-tiergate-tier"] == "remote-a"
        content = b"".join(streamed.iter_bytes())
    assert len(content) < 64 * 1024  # the unfinished event is never relayed
    *_, error_event, done, end = content.split(b"\n\n")
    assert orjson.loads(error_event.removeprefix(b"data: "))["error"]["code"] == "stream_interrupted"
    assert done == b"data: [DONE]" and end == b""
    growth = _peak_rss_mib(gateway) - peak_before
    assert growth < 24, f"the gateway's peak RSS grew by {growth:.0f} MiB"
    assert "broke after the first byte: EventTooLargeError" in gateway.logs()
    again = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)
    assert again.status_code == 200  # and the gateway serves on
