"""Logging set-up: one line per event, level from configuration."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Plain, single-line logs on stderr at the given level."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: per-request noise on the hot path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
