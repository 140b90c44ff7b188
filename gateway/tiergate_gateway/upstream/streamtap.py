"""Watch an OpenAI server-sent-event stream as it is relayed: usage, [DONE], and hiding
the usage the gateway asked for on the client's behalf.

The gateway asks every streaming tier for usage (`stream_options.include_usage`) to count
cost. A client that did not ask must see the stream it would have got without it: no last
usage-only event, and no `"usage": null` that servers add to every chunk once usage is on.
Chunks pass through unchanged otherwise (no re-encoding); events split across chunks are
reassembled only when they may need changing, and never beyond `MAX_EVENT_BYTES`.

Events end at a blank line; lines end with CRLF, LF or CR (the WHATWG event-stream format),
so `\\n\\n`, `\\r\\n\\r\\n`, `\\r\\r` and their mixtures all end an event. Kept events leave
as they came, line endings included; a hidden event whose chunk ended between the CR and LF of
its end leaves that LF behind, an empty line, which dispatches nothing.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from tiergate_gateway.core.protocol import usage_counts
from tiergate_gateway.upstream.transport import UpstreamError

MAX_EVENT_BYTES: Final = 1024 * 1024
"""Most bytes the tap holds back while it waits for an event to end; more breaks the stream.

An OpenAI stream event is one delta of a completion: a few hundred bytes, tens of kilobytes
with logprobs or a large tool-call argument. A tier that sends a megabyte without a blank line
is broken or hostile (no separators, a non-SSE body, an endless line); holding on would grow
the gateway by whatever the tier sends while the client receives nothing.
"""

_USAGE_MARKERS = (b'"usage":{', b'"usage": {')
_DONE = b"[DONE]"
_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,')
_LINE_END = rb"(?:\r\n|\n|\r(?!\n))"
_BLANK_LINE = re.compile(_LINE_END + _LINE_END)
"""The end of an event: a line ending, then an empty line. A CR followed by LF is one line ending."""
_EVENT_ENDINGS = (b"\n\n", b"\n\r\n")
"""Chunk endings that always close an event, whatever came before (the fast path's test)."""


class EventTooLargeError(UpstreamError):
    """The tier sent more than MAX_EVENT_BYTES without ending an event: the stream is broken."""


class StreamTap:
    """Feed it each upstream chunk; it returns what to send to the client."""

    def __init__(self, *, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.usage: tuple[int, int] | None = None
        self.bad_usage = False
        """The tier reported usage that makes no sense (it is then treated as unknown)."""
        self.done = False
        self._pending = bytearray()
        """The start of an event whose end has not arrived yet (no complete event is ever held)."""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to forward for this chunk (possibly held back until an event is complete).

        Raises EventTooLargeError when an unfinished event outgrows MAX_EVENT_BYTES.
        """
        pending = self._pending
        if not pending:
            if not _might_matter(chunk):
                return _NULL_USAGE.sub(b"", chunk) if self.strip_usage and b'"usage"' in chunk else chunk
            data, ends = chunk, _event_ends(chunk, 0)
            cut = ends[-1] if ends else 0
            if cut < len(chunk):
                pending += memoryview(chunk)[cut:]  # the unfinished event
        else:
            seam = max(0, len(pending) - 3)  # the held bytes end no event, but an end may straddle the seam
            pending += chunk
            ends = _event_ends(pending, seam)
            data = bytes(pending) if ends else b""
            del pending[: ends[-1] if ends else 0]
        if len(pending) > MAX_EVENT_BYTES:
            self._pending = bytearray()
            raise EventTooLargeError(f"the tier sent over {MAX_EVENT_BYTES} bytes without ending an event")
        return self._events(data, ends) if ends else b""

    def flush(self) -> bytes:
        """Whatever is still held back at the end of the stream, ended as an event."""
        rest, self._pending = bytes(self._pending), bytearray()
        if not rest.strip(b"\r\n"):
            return rest  # nothing, or the LF of a CRLF that ended the last event
        rest += b"\n\n"
        return self._events(rest, [len(rest)])

    def _events(self, data: bytes, ends: list[int]) -> bytes:
        """The events of `data` up to its last end, minus what the client must not see."""
        kept = []
        start = 0
        for end in ends:
            event = data[start:end]
            start = end
            if _DONE in event and _is_done(event):
                self.done = True
            elif any(marker in event for marker in _USAGE_MARKERS):
                if self._take_usage(event):
                    # Hidden, but not a line ending before it: that may end the CRLF of the event before.
                    kept.append(event[: len(event) - len(event.lstrip(b"\r\n"))])
                    continue
            elif self.strip_usage and b'"usage"' in event:
                event = _NULL_USAGE.sub(b"", event)
            kept.append(event)
        return b"".join(kept)

    def _take_usage(self, event: bytes) -> bool:
        """Record usage; True when the event carries nothing else and should be hidden."""
        try:
            parsed = orjson.loads(_data(event))
        except orjson.JSONDecodeError:
            return False
        if not isinstance(parsed, dict):
            return False
        usage = parsed.get("usage")
        counts = usage_counts(usage)
        if counts is not None:
            self.usage = counts
        elif isinstance(usage, dict):
            self.bad_usage = True
        return self.strip_usage and not parsed.get("choices")


def event_data(events: bytes) -> list[bytes]:
    """The data of each event in `events`, whole events only, as the tap passes them on (an
    observer's hook: the gateway reads answer text from the relayed stream with it)."""
    found = []
    start = 0
    for end in _event_ends(events, 0):
        found.append(_data(events[start:end]))
        start = end
    return found


def _might_matter(chunk: bytes) -> bool:
    """Whether a chunk may end the stream, carry the usage totals, or end mid-event."""
    return b"[DONE]" in chunk or not chunk.endswith(_EVENT_ENDINGS) or any(m in chunk for m in _USAGE_MARKERS)


def _event_ends(data: bytes | bytearray, start: int) -> list[int]:
    """Offsets just past each event end in `data` from `start`."""
    if data.find(b"\r", start) < 0:  # LF only, as nearly every server frames: plain searches, ~2x faster
        ends = []
        at = data.find(b"\n\n", start)
        while at >= 0:
            ends.append(at + 2)
            at = data.find(b"\n\n", at + 2)
        return ends
    # In a function, so the regex's hold on a bytearray ends before the caller resizes it.
    return [match.end() for match in _BLANK_LINE.finditer(data, start)]


def _is_done(event: bytes) -> bool:
    """Whether an event is the stream's `data: [DONE]`."""
    return event.strip(b"\r\n") == b"data: [DONE]" or _data(event) == _DONE


def _data(event: bytes) -> bytes:
    """An event's data: its `data:` lines' values joined by LF (other fields and comments dropped)."""
    values = [line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    return values[0] if len(values) == 1 else b"\n".join(values)
