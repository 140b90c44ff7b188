"""Serves a `SimApp` with uvicorn, tuned to stay out of a benchmark's way.

uvicorn picks uvloop and httptools when installed (they come with `uvicorn[standard]`);
the access log is off and the log level is `warning`, so no request writes a line. The
listening socket is bound here, before uvicorn starts, so `--port 0` works and the
ready line printed to stdout carries the real port.
"""

from __future__ import annotations

import logging
import socket
from typing import Final

from tiergate_sim.app import create_app
from tiergate_sim.knobs import SimConfig

READY_PREFIX: Final = "tiergate sim ready:"
"""Start of the one line printed to stdout once the socket listens: `<prefix> <url> ...`."""
BACKLOG: Final = 2048
GRACEFUL_SHUTDOWN_SECONDS: Final = 2
# uvicorn reports an ASGI app that stops mid-response; the simulator does that on purpose
# (dropped streams), so this one message would only be noise.
_CUT_MESSAGE: Final = "ASGI callable returned without completing response."


class _DropIntentionalCuts(logging.Filter):
    """Hides uvicorn's report of a response the app left unfinished on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _CUT_MESSAGE


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def url_of(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket, IPv6 hosts in brackets."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: SimConfig, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Print the ready line and serve on the listening `sock` until SIGINT or SIGTERM."""
    import uvicorn  # heavy; only the serving path pays for it

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            loop="auto",
            http="auto",
            ws="none",
            lifespan="off",
            access_log=False,
            log_level=log_level,
            server_header=False,
            backlog=BACKLOG,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    logging.getLogger("uvicorn.error").addFilter(_DropIntentionalCuts())
    names = ", ".join(config.listed_names)
    print(f"{READY_PREFIX} {url_of(sock)} model={config.model} served=[{names}]", flush=True)
    server.run(sockets=[sock])
