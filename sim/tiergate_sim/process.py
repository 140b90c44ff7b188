"""Start `tiergate sim` as a subprocess and know where it listens (tests, demo, benchmarks).

The simulator binds before it serves and prints one ready line with its URL, so
`start_sim` asks for port 0 and never races another process for a "free" port.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Final, Self

from tiergate_sim.server import READY_PREFIX

DEFAULT_START_TIMEOUT: Final = 20.0
ADMIN_TIMEOUT: Final = 10.0


class SimStartError(RuntimeError):
    """The simulator exited or stayed silent instead of printing its ready line."""


class SimProcess:
    """A running simulator; stop it with `stop()` or by leaving a `with` block."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url
        """`http://host:port`, with a wildcard bind address replaced by loopback."""

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`…/v1`), as the `openai` client and the gateway want it."""
        return f"{self.url}/v1"

    def configure(self, **knobs: object) -> dict[str, Any]:
        """`PUT /sim/config` with `knobs` (e.g. `error_rate=1`); returns the new config."""
        return self._admin("PUT", "/sim/config", knobs)

    def reset(self) -> None:
        """Restore the start-up knobs and clear the stats."""
        self._admin("DELETE", "/sim/config")
        self._admin("DELETE", "/sim/stats")

    def stats(self) -> dict[str, Any]:
        """`GET /sim/stats`: outcome counts and the last requests as they arrived."""
        return self._admin("GET", "/sim/stats")

    def _admin(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT) as response:
            document: dict[str, Any] = json.load(response)
        return document

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code (-15 after a clean
        SIGTERM: uvicorn shuts down gracefully, then re-raises the signal)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _read_ready_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimStartError(f"no ready line within {timeout} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = process.wait(timeout=5)
                raise SimStartError(f"the simulator exited with code {code} before it was ready")
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode()
    if not line.startswith(READY_PREFIX):
        raise SimStartError(f"unexpected first line from the simulator: {line!r}")
    return line


def _client_url(listen_url: str) -> str:
    return listen_url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")


def start_sim(
    args: Sequence[str],
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    stderr: IO[bytes] | int | None = None,
    env: dict[str, str] | None = None,
) -> SimProcess:
    """Run `python -m tiergate_sim ARGS` (with `--port 0` unless ARGS set a port)
    and return once it listens. `args` must include `--model`."""
    command = [sys.executable, "-m", "tiergate_sim", *args]
    if "--port" not in args and not any(arg.startswith("--port=") for arg in args):
        command += ["--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        line = _read_ready_line(process, timeout)
    except BaseException:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        raise
    return SimProcess(process, _client_url(line.split()[len(READY_PREFIX.split())]))
