"""The decision log: one JSON line per routed request, in `tiergate replay`'s format (opt-in).

Off unless `TIERGATE_DECISION_LOG` names a file. Each line holds the request's shape (model,
max_tokens, stream, the routing headers, and the task, latency class, prompt size and features
the gateway saw), the decision (policy, tier, attempts, status, fallback reasons, cost, and the
policy's baseline tier and what the answer would have cost there), the usage and the latency.
The request's text is written only with `TIERGATE_DECISION_LOG_CONTENT=true`: it is user data.
Never a key, never a header other than the routing ones.

Bounded: past `max_bytes` the file is renamed `<name>.1` (older ones shift up to `<name>.<backups>`,
the oldest is deleted) and a new one started. Several workers may share one file: lines are
appended with O_APPEND in whole-line batches, the rotation happens under an flock of
`<name>.lock`, and a worker whose file was rotated by another reopens the name at its next
write. Lines are written in batches at most every 50 ms, like the access log; a crash loses
at most those 50 ms.
"""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import Any, Final

import orjson

from tiergate_gateway.telemetry.batching import BatchedLines

log = logging.getLogger(__name__)

FLUSH_BYTES: Final = 256 * 1024


class DecisionLog(BatchedLines):
    """Appends decision lines to a rotated, bounded file."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, capture_content: bool) -> None:
        super().__init__(FLUSH_BYTES)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.capture_content = capture_content
        self._lock_path = path.with_name(path.name + ".lock")
        self._fd: int | None = None
        self._inode: int | None = None
        self._failing = False

    def record(self, line: dict[str, Any]) -> None:
        """Queue one line; it is written within FLUSH_SECONDS."""
        self._queue(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def _write(self, data: bytes) -> None:
        """Append a batch (rotating first when the file is full)."""
        try:
            fd = self._current()
            if os.fstat(fd).st_size + len(data) > self.max_bytes:
                fd = self._rotate()
            os.write(fd, data)
            if self._failing:
                log.info("decision log %s is writable again", self.path)
                self._failing = False
        except OSError as exc:  # a full disk must not fail requests: lose these lines, say so once
            if not self._failing:
                log.error("decision log %s cannot be written (%s); lines are dropped until it can", self.path, exc)
                self._failing = True
            self._close()

    def close(self) -> None:
        """Write what is queued and close the file."""
        self.flush()
        self._close()

    def _current(self) -> int:
        """The open file of the name now (reopened when another worker rotated it)."""
        try:
            inode: int | None = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._fd is None or inode != self._inode:
            self._close()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._inode = os.fstat(self._fd).st_ino
        return self._fd

    def _rotate(self) -> int:
        """Shift the old files up one under the lock (unless another worker just did) and reopen."""
        lock = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                rotated_by_another = os.stat(self.path).st_ino != self._inode
            except FileNotFoundError:
                rotated_by_another = True
            if not rotated_by_another:
                for index in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{index}")
                    if older.exists():
                        older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
                if self.backups:
                    self.path.replace(self.path.with_name(f"{self.path.name}.1"))
                else:
                    self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)
        return self._current()

    def _close(self) -> None:
        if self._fd is not None:
            with suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._inode = None
