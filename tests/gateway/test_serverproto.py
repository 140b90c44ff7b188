"""The gateway's uvicorn protocol writes a response's head and first body bytes in one write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from tiergate_gateway.serverproto import CoalescingHttpToolsProtocol


class RecordingTransport(asyncio.Transport):
    """Stands in for the socket: every write is kept as it was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

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
