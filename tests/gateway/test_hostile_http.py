"""A hostile client against a real gateway process: request heads that never end, or have no end of headers."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tiergate_demo.process import GatewayProcess


def _memory_kib(gateway: GatewayProcess, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of the gateway process, from /proc."""
    for line in Path(f"/proc/{gateway.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for the gateway")


def _read_to_end(sock: socket.socket, seconds: float = 5.0) -> bytes:
    """Everything the gateway sends until it closes (or stops talking for `seconds`)."""
    sock.settimeout(seconds)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return bytes(received)


def _send_endless_header(port: int, *, piece: int = 16 * 1024, most: int = 32 << 20, seconds: float = 5.0) -> bytes:
    """Send a request whose one header never ends, piece by piece, until the gateway answers; its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\nx-endless: ")
        sock.setblocking(False)
        filler = b"a" * piece
        sent, deadline = 0, time.monotonic() + seconds
        while sent < most and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                break  # an answer (or the close) came
            if writable:
                try:
                    sent += sock.send(filler)
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        return _read_to_end(sock)


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return _read_to_end(sock)


def _get(headers: bytes) -> bytes:
    """A GET /healthz with these header lines (each ending in CRLF)."""
    return b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n" + headers + b"\r\n"


def _assert_431(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert b"connection: close" in head.lower()
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] is None
    assert error["code"] == "request_header_fields_too_large" and error["message"]


def _attacking(port: int, answers: list[bytes]) -> Callable[[], None]:
    """Start endless-header connections one after another until the returned function stops them."""
    stop = threading.Event()

    def attack() -> None:
        while not stop.is_set():
            answers.append(_send_endless_header(port))

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(15)

    return finish


def test_endless_headers_get_431_and_a_close_while_the_gateway_stays_small_and_answers(
    shared_gateway: GatewayProcess,
) -> None:
    gateway = shared_gateway
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
    peak_before = _memory_kib(gateway, "VmHWM")
    answers: list[bytes] = []
    finish = _attacking(gateway.port, answers)
    try:
        for _ in range(8):
            started = time.monotonic()
            assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 2.0  # generous: milliseconds when nothing else runs
            time.sleep(0.1)
    finally:
        finish()
    assert answers, "the attack never finished a connection"
    for answer in answers:
        _assert_431(answer)  # read to the end: the gateway closed the connection after it
    growth_mib = (_memory_kib(gateway, "VmHWM") - peak_before) / 1024
    assert growth_mib < 20, f"the gateway's peak RSS grew by {growth_mib:.0f} MiB"


def test_a_60_kib_header_is_still_served(shared_gateway: GatewayProcess) -> None:
    response = httpx.get(f"{shared_gateway.url}/healthz", headers={"x-big": "a" * (60 * 1024)}, timeout=5)
    assert response.status_code == 200


def test_a_head_over_64_kib_sent_whole_gets_431(shared_gateway: GatewayProcess) -> None:
    _assert_431(_exchange(shared_gateway.port, _get(b"x-big: " + b"a" * 70_000 + b"\r\n")))


def test_more_than_100_headers_get_431(shared_gateway: GatewayProcess) -> None:
    _assert_431(_exchange(shared_gateway.port, _get(b"".join(b"x-h%d: 1\r\n" % i for i in range(101)))))
    headers = b"connection: close\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(90))
    assert _exchange(shared_gateway.port, _get(headers)).startswith(b"HTTP/1.1 200 ")


def test_a_refused_head_after_a_kept_alive_request_comes_after_its_answer(shared_gateway: GatewayProcess) -> None:
    good, bad = _get(b""), _get(b"x-big: " + b"a" * 70_000 + b"\r\n")
    answer = _exchange(shared_gateway.port, good + bad)  # pipelined: both in one write
    first, _, rest = answer.partition(b"HTTP/1.1 431 ")
    assert first.startswith(b"HTTP/1.1 200 ") and first.count(b"HTTP/1.1 ") == 1
    _assert_431(b"HTTP/1.1 431 " + rest)


def test_the_limit_is_set_by_tiergate_max_header_bytes(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_factory(env={"TIERGATE_MAX_HEADER_BYTES": "8192"})
    assert httpx.get(f"{gateway.url}/healthz", headers={"x-big": "a" * 6000}, timeout=5).status_code == 200
    _assert_431(_exchange(gateway.port, _get(b"x-big: " + b"a" * 9000 + b"\r\n")))


def test_a_head_that_trickles_in_gets_408_and_the_connection_closes(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Slow headers: every byte cancelled uvicorn's keep-alive timer, so one trickle held a connection for good."""
    gateway = gateway_factory(env={"TIERGATE_HEAD_TIMEOUT_SECONDS": "1"})
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n")
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < 6:
            try:
                sock.sendall(b"x-slow-%d: y\r\n" % int((time.monotonic() - started) * 10))
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0.3)
            if readable:
                answer = _read_to_end(sock, 2.0)
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200  # a whole head is still welcome
