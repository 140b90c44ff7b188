"""The gateway's uvicorn protocol: a response's head and first body bytes in one write; bounded request heads."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from tiergate_gateway.server.serverproto import MAX_HEADERS, CoalescingHttpToolsProtocol


class RecordingTransport(asyncio.Transport):
    """Stands in for the socket: every write is kept as it was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.eof_written = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _exchange(app: Any, request: bytes) -> list[bytes]:
    config = Config(app=app, http=CoalescingHttpToolsProtocol, log_config=None)
    config.load()
    protocol = CoalescingHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(50):  # let the app's task and any deferred flush run
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    return transport.writes


GET = b"GET / HTTP/1.1\r\nhost: example\r\n\r\n"


async def _stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
    await asyncio.sleep(0.001)
    await send({"type": "http.response.body", "body": b"data: second\n\n", "more_body": False})


async def test_head_and_first_chunk_leave_in_one_write_and_later_chunks_alone() -> None:
    writes = await _exchange(_stream, GET)
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"data: first\n\n\r\n")
    assert b"data: second" in writes[1]


async def _head_then_wait(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await asyncio.sleep(0.005)  # the body comes later: the head must not wait for it
    await send({"type": "http.response.body", "body": b"{}"})


async def test_a_head_whose_body_is_late_is_sent_on_its_own_without_waiting() -> None:
    writes = await _exchange(_head_then_wait, GET)
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == b"{}"


@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
async def test_every_response_is_written_whole(method: bytes) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    writes = await _exchange(app, method + b" / HTTP/1.1\r\nhost: example\r\n\r\n")
    assert b"".join(writes).startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"".join(writes).endswith(b"\r\n\r\n")


# -- bounded request heads (431)


def _connect(app: Any) -> tuple[CoalescingHttpToolsProtocol, RecordingTransport]:
    config = Config(app=app, http=CoalescingHttpToolsProtocol, log_config=None)
    config.load()
    protocol = CoalescingHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


LIMIT = CoalescingHttpToolsProtocol.max_head_bytes


def _assert_refused(writes: list[bytes], transport: RecordingTransport) -> None:
    answer = b"".join(writes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in head
    assert orjson.loads(body) == {
        "error": {
            "message": orjson.loads(body)["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": "request_header_fields_too_large",
        }
    }
    assert transport.eof_written  # then lingers, reading and dropping, until the client or the timer closes


async def test_the_default_head_limit_is_64_kib() -> None:
    assert LIMIT == 64 * 1024


async def test_an_endless_header_fed_in_small_reads_is_refused_with_431_and_nothing_more_is_parsed() -> None:
    protocol, transport = _connect(_ok)
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: example\r\nx-endless: ")
    fed = 0
    while not transport.writes:
        protocol.data_received(b"a" * 1000)
        fed += 1000
        assert fed <= LIMIT + 2000
    assert fed > LIMIT - 2000
    _assert_refused(transport.writes, transport)
    writes = len(transport.writes)
    protocol.data_received(b"a" * 100_000 + b"\r\n\r\n")  # the client keeps sending: dropped unparsed
    await _settle()
    assert len(transport.writes) == writes
    protocol.connection_lost(None)


async def test_a_head_over_the_limit_in_one_read_is_refused_even_with_its_end() -> None:
    protocol, transport = _connect(_ok)
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: example\r\nx-big: " + b"a" * LIMIT + b"\r\n\r\n")
    await _settle()
    _assert_refused(transport.writes, transport)
    protocol.connection_lost(None)


async def test_a_60_kib_header_and_a_small_head_with_a_large_body_in_one_read_are_served() -> None:
    body = b"{}" * 100_000
    requests = [
        b"GET / HTTP/1.1\r\nhost: example\r\nx-big: " + b"a" * (60 * 1024) + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: example\r\ncontent-length: %d\r\n\r\n" % len(body) + body,
    ]
    for request in requests:
        protocol, transport = _connect(_ok)
        protocol.data_received(request)
        await _settle()
        assert b"".join(transport.writes).startswith(b"HTTP/1.1 200 OK\r\n")
        protocol.connection_lost(None)


@pytest.mark.parametrize("count", [MAX_HEADERS + 1, 5000])
async def test_more_than_the_header_count_cap_is_refused(count: int) -> None:
    protocol, transport = _connect(_ok)
    headers = b"".join(b"x-h%d: 1\r\n" % i for i in range(count))
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: example\r\n" + headers + b"\r\n")
    await _settle()
    _assert_refused(transport.writes, transport)
    protocol.connection_lost(None)


async def test_each_keep_alive_request_gets_its_own_head_budget() -> None:
    protocol, transport = _connect(_ok)
    request = b"GET / HTTP/1.1\r\nhost: example\r\nx-big: " + b"a" * (40 * 1024) + b"\r\n\r\n"
    for _ in range(3):
        for at in range(0, len(request), 1000):  # each head spread over many reads
            protocol.data_received(request[at : at + 1000])
        await _settle()
    answers = b"".join(transport.writes)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 3 and b"431" not in answers
    protocol.connection_lost(None)


async def test_a_pipelined_head_over_the_limit_is_answered_after_the_response_ahead_of_it() -> None:
    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"sl", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"ow"})

    protocol, transport = _connect(slow)
    protocol.data_received(GET + b"GET / HTTP/1.1\r\nhost: example\r\nx-big: ")
    await _settle()
    protocol.data_received(b"a" * (LIMIT + 1000))
    await _settle()
    assert b"431" not in b"".join(transport.writes)  # never inside the response being written
    release.set()
    await _settle()
    first, _, refused = b"".join(transport.writes).partition(b"slow")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    _assert_refused([refused], transport)
    protocol.connection_lost(None)


async def test_a_refused_head_after_a_head_request_follows_its_held_answer() -> None:
    protocol, transport = _connect(_ok)
    big = b"GET / HTTP/1.1\r\nhost: example\r\nx-big: " + b"a" * (LIMIT + 10) + b"\r\n\r\n"
    protocol.data_received(b"HEAD / HTTP/1.1\r\nhost: example\r\n\r\n" + big)
    await _settle()
    first, _, refused = b"".join(transport.writes).partition(b"HTTP/1.1 431 ")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\n")
    _assert_refused([b"HTTP/1.1 431 " + refused], transport)
    protocol.connection_lost(None)


async def test_malformed_requests_still_get_uvicorns_400() -> None:
    protocol, transport = _connect(_ok)
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 400 ") and transport.closed
