"""Run `tiergate gateway` as a subprocess on loopback (the demo, benchmarks and tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx


def free_port() -> int:
    """A port that was free a moment ago (the gateway binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """A gateway subprocess; `url` is its root, `base_url` the OpenAI base."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        """The OpenAI base URL."""
        return f"{self.url}/v1"

    def logs(self) -> str:
        """Everything the gateway wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_gateway(
    args: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    ready: bool = True,
    port: int | None = None,
) -> GatewayProcess:
    """Start `python -m tiergate_cli gateway ARGS --port <free>` and wait until /readyz says ready."""
    port = port or free_port()
    log: IO[bytes] = log_path.open("wb")
    command = [sys.executable, "-m", "tiergate_cli", "gateway", "--host", "127.0.0.1", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    gateway = GatewayProcess(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{gateway.logs()}")
        try:
            response = httpx.get(f"{gateway.url}/readyz" if ready else f"{gateway.url}/healthz", timeout=1.0)
            if response.status_code == 200:
                return gateway
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    gateway.stop()
    raise RuntimeError(f"gateway not ready within {timeout}s:\n{gateway.logs()}")
