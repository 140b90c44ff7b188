"""Lines written in batches: at most every 50 ms, or at once past a size (the access and decision logs).

One write per request would cost more than the line itself at low concurrency; a batch per 50 ms
costs one write however many requests came. A crash loses at most those 50 ms. Subclasses say
where a batch goes (`_write`); outside an event loop (tests, shutdown) every line is written at once.
"""

from __future__ import annotations

import asyncio
from typing import Final

FLUSH_SECONDS: Final = 0.05


class BatchedLines:
    """Queues encoded lines and hands them to `_write` in one piece."""

    def __init__(self, flush_bytes: int) -> None:
        self.flush_bytes = flush_bytes
        self._lines: list[bytes] = []
        self._size = 0
        self._flush_handle: asyncio.TimerHandle | None = None

    def _queue(self, line: bytes) -> None:
        """Queue one line; it is written within FLUSH_SECONDS (at once past `flush_bytes`)."""
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.flush_bytes:
            self.flush()
        elif self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_handle = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write every queued line at once."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        lines, self._lines, self._size = self._lines, [], 0
        if lines:
            self._write(b"".join(lines))

    def _write(self, data: bytes) -> None:
        raise NotImplementedError
