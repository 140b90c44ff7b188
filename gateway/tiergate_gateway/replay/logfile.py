"""Reading request logs: plain or gzip JSON Lines, line by line, never failing on a bad one.

The only module of replay that reads files. A file that is missing, unreadable or a gzip stream
that breaks part-way is reported as a bad line (`UnreadableFile`, at the line where it broke)
and the next file is read: a log cut off by a crash still replays up to the cut.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from tiergate_gateway.replay.lines import BadKind, BadLine, LoggedRequest, read_line

_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzip (by its magic number, whatever its name)."""
    if str(path) == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)  # closed by the caller's `with`
    handle = path.open("rb")
    if handle.read(2) == _GZIP_MAGIC:
        handle.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    handle.seek(0)
    return handle


def read_log(path: Path) -> Iterator[LoggedRequest | BadLine]:
    """Every non-blank line of a log as a request or a bad line; `-` reads standard input."""
    name = str(path)
    number = 0
    try:
        handle = _open(path)
    except OSError as exc:
        yield BadLine(name, 0, BadKind.UNREADABLE_FILE, exc.strerror or type(exc).__name__)
        return
    with handle:
        try:
            for raw in handle:
                number += 1
                line = raw.strip()
                if line:
                    yield read_line(name, number, line)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            yield BadLine(name, number + 1, BadKind.UNREADABLE_FILE, f"stopped reading: {exc}")
