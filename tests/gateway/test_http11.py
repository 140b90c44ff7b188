"""The upstream HTTP/1.1 client against real sockets on loopback, scripted byte by byte."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tiergate_gateway.upstream.forward import StreamHandle, _rest
from tiergate_gateway.upstream.http11 import (
    _PAUSE_ABOVE,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    ConnectError,
    InvalidHeaderError,
    InvalidResponseError,
    InvalidUrlError,
    Pool,
    ServerDisconnectedError,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Server:
    """A loopback server whose connection handler is the test's script; counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Callable[[Server], Handler]], Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(script: Callable[[Server], Handler]) -> Server:
        holder = Server(lambda r, w: asyncio.sleep(0))
        holder.handler = script(holder)
        holder.server = await asyncio.start_server(holder._serve, "127.0.0.1", 0)
        servers.append(holder)
        return holder

    yield start
    for server in servers:
        assert server.server is not None
        server.server.close()


def keep_alive(answer: bytes) -> Callable[[Server], Handler]:
    """Answer every request on a connection with `answer`, keeping it open."""

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await server.read_request(reader)
                writer.write(answer)
                await writer.drain()

        return handle

    return script


def answer_once(answer: bytes, *, then_close: bool) -> Callable[[Server], Handler]:
    """Read one request and write `answer`; then close, or keep the connection until the client leaves."""

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer)
            if not then_close:
                await reader.read()

        return handle

    return script


async def test_sends_one_request_with_host_length_and_headers_and_reads_the_answer(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool()
    response = await pool.post(server.url, b'{"a":1}', {"authorization": "Bearer k", "x-extra": "1"})
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert await response.read() == b"{}"
    response.release()
    request = server.requests[0]
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in request and b"\r\ncontent-length: 7\r\n" in request
    assert b"\r\nauthorization: Bearer k\r\n" in request and request.endswith(b'\r\n\r\n{"a":1}')
    await pool.close()


async def test_reuses_a_released_connection(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool()
    for _ in range(5):
        response = await pool.post(server.url, b"{}", {})
        assert await response.read() == b"{}"
        response.release()
    assert server.connections == 1 and len(server.requests) == 5
    await pool.close()


async def test_an_answer_not_read_to_its_end_closes_its_connection(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    response.release()  # body never read: the connection is not in a known state
    again = await pool.post(server.url, b"{}", {})
    assert await again.read() == b"{}"
    again.release()
    assert server.connections == 2
    await pool.close()


async def test_streams_chunked_bodies_as_they_arrive(serve) -> None:
    gate = asyncio.Event()

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            await gate.wait()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            await writer.drain()
            await reader.read()

        return handle

    server = await serve(script)
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    assert await response.read_chunk() == b"hello"  # before the rest was even sent
    gate.set()
    assert await response.read() == b" world"
    assert response.at_eof()
    response.release()
    assert pool.open_connections == 1
    await pool.close()


async def test_a_body_without_length_ends_when_the_server_closes(serve) -> None:
    server = await serve(answer_once(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it", then_close=True))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    assert await response.read() == b"all of it"
    response.release()
    assert pool.open_connections == 0
    await pool.close()


async def test_a_cut_body_is_a_server_disconnect(serve) -> None:
    server = await serve(answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this", then_close=True))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    with pytest.raises(ServerDisconnectedError):
        await response.read()
    response.release()
    await pool.close()


async def test_garbage_is_an_invalid_response(serve) -> None:
    server = await serve(answer_once(b"this is not http at all\r\n\r\n", then_close=False))
    pool = Pool()
    with pytest.raises(InvalidResponseError):
        await pool.post(server.url, b"{}", {})
    assert pool.open_connections == 0
    await pool.close()


async def test_retries_once_when_an_idle_connection_was_closed_by_the_server(serve) -> None:
    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()
            # Then the server drops the idle connection without reading the next request.

        return handle

    server = await serve(script)
    pool = Pool()
    first = await pool.post(server.url, b"{}", {})
    assert await first.read() == b"{}"
    first.release()
    second = await pool.post(server.url, b"{}", {})
    assert await second.read() == b"{}"
    second.release()
    assert server.connections == 2 and len(server.requests) == 2
    await pool.close()


async def test_idle_connections_expire_before_the_usual_server_keep_alive(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool(idle_seconds=0.05)
    for _ in range(2):
        response = await pool.post(server.url, b"{}", {})
        await response.read()
        response.release()
        await asyncio.sleep(0.1)
    assert server.connections == 2
    await pool.close()


async def test_a_caller_that_gives_up_closes_the_connection(serve) -> None:
    closed = asyncio.Event()

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            await reader.read()  # never answers; returns when the client closes
            closed.set()

        return handle

    server = await serve(script)
    pool = Pool()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await pool.post(server.url, b"{}", {})
    await asyncio.wait_for(closed.wait(), 5)
    assert pool.open_connections == 0
    await pool.close()


async def test_a_silent_stream_times_out_per_read(serve) -> None:
    server = await serve(answer_once(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", then_close=False))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    with pytest.raises(TimeoutError):
        await response.read_chunk(timeout=0.05)
    response.close()
    await pool.close()


async def test_a_reader_that_lags_keeps_memory_bounded_and_still_gets_every_byte(serve) -> None:
    body = bytes(range(256)) * 65_536  # 16 MiB, far past the pause threshold

    server = await serve(keep_alive(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    await asyncio.sleep(0.3)  # not reading: the client stops reading the socket instead of buffering it all
    assert response._buffered <= _PAUSE_ABOVE + 1024 * 1024
    received = bytearray()
    while chunk := await response.read_chunk():
        received += chunk
        await asyncio.sleep(0)  # a slow reader
    assert bytes(received) == body
    response.release()
    await pool.close()


async def test_skips_interim_answers(serve) -> None:
    server = await serve(keep_alive(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    assert response.status == 200 and await response.read() == b"{}"
    response.release()
    await pool.close()


async def test_refuses_header_values_with_line_breaks(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool()
    with pytest.raises(InvalidHeaderError) as error:
        await pool.post(server.url, b"{}", {"authorization": "Bearer secret\n"})
    assert "secret" not in str(error.value)
    assert server.requests == []
    await pool.close()


async def test_connection_refused_is_a_connect_error() -> None:
    pool = Pool()
    with pytest.raises(ConnectError) as error:
        await pool.post("http://127.0.0.1:9/v1/chat/completions", b"{}", {})
    assert "127.0.0.1" not in str(error.value)
    assert pool.open_connections == 0
    await pool.close()


async def test_waits_for_a_free_connection_at_the_limit(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool(max_connections=1)
    first = await pool.post(server.url, b"{}", {})
    second = asyncio.ensure_future(pool.post(server.url, b"{}", {}))
    await asyncio.sleep(0.05)
    assert not second.done()
    assert await first.read() == b"{}"
    first.release()
    response = await asyncio.wait_for(second, 5)
    assert await response.read() == b"{}"
    response.release()
    assert server.connections == 1
    await pool.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_speaks_tls_and_checks_the_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    holder = Server(lambda r, w: asyncio.sleep(0))
    holder.handler = keep_alive(OK)(holder)
    server = await asyncio.start_server(holder._serve, "localhost", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        trusting = Pool(ssl_context=ssl.create_default_context(cafile=str(cert)))
        response = await trusting.post(f"https://localhost:{port}/v1/chat/completions", b"{}", {})
        assert response.status == 200 and await response.read() == b"{}"
        response.release()
        await trusting.close()
        assert b"\r\nhost: localhost:%d\r\n" % port in holder.requests[0]

        default = Pool()  # the system's CAs do not know this certificate
        with pytest.raises(ConnectError):
            await default.post(f"https://localhost:{port}/v1/chat/completions", b"{}", {})
        await default.close()
    finally:
        server.close()


async def test_a_request_the_server_started_on_is_never_sent_twice(serve) -> None:
    """Only the keep-alive race is retried: a server that read the request and then died is not."""

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()
            await server.read_request(reader)
            await asyncio.sleep(0.3)  # working on it... then the worker dies without answering

        return handle

    server = await serve(script)
    pool = Pool()
    first = await pool.post(server.url, b"{}", {})
    await first.read()
    first.release()
    with pytest.raises(ServerDisconnectedError):
        await pool.post(server.url, b'{"n":2}', {})
    assert len(server.requests) == 2 and server.connections == 1
    await pool.close()


async def test_a_waiter_cancelled_after_being_woken_passes_its_turn_on(serve) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool(max_connections=1)
    first = await pool.post(server.url, b"{}", {})
    await first.read()
    cancelled = asyncio.ensure_future(pool.post(server.url, b"{}", {}))
    patient = asyncio.ensure_future(pool.post(server.url, b"{}", {}))
    await asyncio.sleep(0.05)
    first.release()  # wakes the first waiter...
    cancelled.cancel()  # ...whose own timeout fires in the same loop turn
    response = await asyncio.wait_for(patient, 2)
    assert await response.read() == b"{}"
    response.release()
    await pool.close()


@pytest.mark.parametrize("value", ["Bearer sk-\u2019secret", "Bearer sk-secret\x00", "Bearer sk-\u200bsecret"])
async def test_refuses_header_values_that_cannot_go_on_the_wire_without_showing_them(serve, value: str) -> None:
    server = await serve(keep_alive(OK))
    pool = Pool()
    with pytest.raises(InvalidHeaderError) as error:
        await pool.post(server.url, b"{}", {"authorization": value})
    assert "secret" not in str(error.value) and error.value.__cause__ is None and error.value.__context__ is None
    await pool.close()


async def test_a_malformed_url_is_an_http_error() -> None:
    pool = Pool()
    for url in ("http://127.0.0.1:99999/v1", "ftp://example/v1", "/relative"):
        with pytest.raises(InvalidUrlError):
            await pool.post(url, b"{}", {})
    await pool.close()


async def test_bytes_after_the_answer_are_not_parsed_into_it_and_the_connection_is_dropped(serve) -> None:
    extra = b"HTTP/1.1 500 Oops\r\ncontent-length: 5\r\n\r\nhello"
    server = await serve(keep_alive(OK + extra))
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    assert response.status == 200 and await response.read() == b"{}"
    await asyncio.sleep(0.05)
    assert response.status == 200 and response.headers.get("content-length") == "2"
    response.release()
    assert pool.open_connections == 0
    again = await pool.post(server.url, b"{}", {})
    assert again.status == 200 and await again.read() == b"{}"
    again.release()
    await pool.close()


async def test_a_body_without_length_cut_by_a_reset_is_not_complete(serve) -> None:
    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npartial")
            await writer.drain()
            await asyncio.sleep(0.05)
            linger_zero = struct.pack("ii", 1, 0)  # close with a reset (RST), not a clean FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            writer.transport.abort()

        return handle

    server = await serve(script)
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    with pytest.raises(ServerDisconnectedError):
        await response.read()
    response.close()
    await pool.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
async def test_giving_up_mid_request_drops_the_unsent_body_at_once(serve) -> None:
    """A stuck server that reads nothing: the socket closes now, not after the server drains our buffer."""
    stuck = asyncio.Event()

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await stuck.wait()

        return handle

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    server = await serve(script)
    pool = Pool()
    before = open_files()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await pool.post(server.url, b"x" * (32 << 20), {})
    await asyncio.sleep(0.1)
    assert pool.open_connections == 0
    assert open_files() - before <= 1  # the stuck server's end only; ours is gone
    stuck.set()
    await pool.close()


async def test_cancelling_a_stream_while_it_drains_still_closes_its_connection(serve) -> None:
    closed = asyncio.Event()

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\ne\r\ndata: [DONE]\n\n\r\n")
            await writer.drain()
            await reader.read()  # never sends the terminator; returns when the client leaves
            closed.set()

        return handle

    server = await serve(script)
    pool = Pool()
    response = await pool.post(server.url, b"{}", {})
    handle = StreamHandle(response, await response.read_chunk(), _rest(response, 5, None), 0.0)
    draining = asyncio.ensure_future(handle.aclose(finished=True))
    await asyncio.sleep(0.05)
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining
    await asyncio.wait_for(closed.wait(), 5)
    assert pool.open_connections == 0
    await pool.close()


# -- bounded answer heads


def endless_header(sent: list[int]) -> Callable[[Server], Handler]:
    """Answer with a header line that never ends, counting the bytes written until the client leaves."""

    def script(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-endless: ")
            filler = b"a" * 4096
            while sent[0] < 512 << 20:  # stops when the client closes (the write fails) or at 512 MiB
                writer.write(filler)
                sent[0] += len(filler)
                await writer.drain()

        return handle

    return script


async def test_an_answer_head_that_never_ends_is_an_invalid_response_after_64_kib(serve) -> None:
    sent = [0]
    server = await serve(endless_header(sent))
    pool = Pool()
    with pytest.raises(InvalidResponseError, match="head is longer than 65536 bytes"):
        async with asyncio.timeout(5):
            await pool.post(server.url, b"{}", {})
    assert pool.open_connections == 0
    await asyncio.sleep(0.05)
    assert sent[0] < 16 << 20  # we stopped reading: what the server wrote fits in the sockets' buffers
    await pool.close()


async def test_an_answer_head_over_the_limit_in_one_piece_is_invalid_even_with_its_end(serve) -> None:
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-big: " + b"a" * (MAX_HEAD_BYTES + 100) + b"\r\n\r\n{}"
    server = await serve(keep_alive(big))
    pool = Pool()
    with pytest.raises(InvalidResponseError, match="head is longer"):
        await pool.post(server.url, b"{}", {})
    assert pool.open_connections == 0
    await pool.close()


async def test_an_answer_with_more_than_100_header_lines_is_invalid(serve) -> None:
    headers = b"".join(b"x-h: %d\r\n" % i for i in range(MAX_HEADERS + 1))  # one name: the lines count, not the names
    server = await serve(keep_alive(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n" + headers + b"\r\n{}"))
    pool = Pool()
    with pytest.raises(InvalidResponseError, match="header lines"):
        await pool.post(server.url, b"{}", {})
    await pool.close()


async def test_a_60_kib_head_and_a_small_head_with_a_large_first_read_are_answers(serve) -> None:
    big_head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-big: " + b"a" * (60 * 1024) + b"\r\n\r\n{}"
    body = b"x" * (200 * 1024)
    big_body = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    for answer, expected in ((big_head, b"{}"), (big_body, body)):
        server = await serve(keep_alive(answer))
        pool = Pool()
        for _ in range(2):  # and on the reused connection, with a fresh budget
            response = await pool.post(server.url, b"{}", {})
            assert response.status == 200 and await response.read() == expected
            response.release()
        await pool.close()


async def test_the_head_limit_is_the_pools_to_set(serve) -> None:
    server = await serve(keep_alive(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-mid: " + b"a" * 3000 + b"\r\n\r\n{}"))
    pool = Pool(max_head_bytes=2048)
    with pytest.raises(InvalidResponseError):
        await pool.post(server.url, b"{}", {})
    await pool.close()
