"""Logging set-up: one JSON object per line, with the trace and span ids of the current span.

INFO is for lifecycle and state changes (started, snapshot reloaded, circuit opened,
budget exceeded) and for the access log's one line per request (`accesslog.py`, which
writes its own lines, faster than a LogRecord could). `TIERGATE_LOG_FORMAT=text` gives
plain lines for a terminal.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _TraceIds(logging.Filter):
    """Adds `trace_id` and `span_id` of the active span, so a log line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def configure_logging(level: str, fmt: str = "json") -> None:
    """Replace the root handlers with one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(_FORMAT, rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's own access line says less than ours (accesslog.py) and cost about a fifth of the
    # throughput; its protocol writes it only when the logger has handlers, so it gets none.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    # Per-request noise from libraries stays out of INFO.
    for name in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
