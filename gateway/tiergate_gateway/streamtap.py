"""Watch an OpenAI server-sent-event stream as it is relayed: usage, [DONE], and hiding
the usage the gateway asked for on the client's behalf.

The gateway asks every streaming tier for usage (`stream_options.include_usage`) to count
cost. A client that did not ask must see the stream it would have got without it: no last
usage-only event, and no `"usage": null` that servers add to every chunk once usage is on.
Chunks pass through unchanged otherwise (no re-encoding); events split across chunks are
reassembled only when they may need changing.
"""

from __future__ import annotations

import re

import orjson

from tiergate_gateway.protocol import usage_counts

_USAGE_MARKERS = (b'"usage":{', b'"usage": {')
_DONE = b"data: [DONE]"
_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,')


class StreamTap:
    """Feed it each upstream chunk; it returns what to send to the client."""

    def __init__(self, *, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.usage: tuple[int, int] | None = None
        self.bad_usage = False
        """The tier reported usage that makes no sense (it is then treated as unknown)."""
        self.done = False
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to forward for this chunk (possibly held back until an event is complete)."""
        if not self._pending and not _might_matter(chunk):
            return _NULL_USAGE.sub(b"", chunk) if self.strip_usage and b'"usage"' in chunk else chunk
        data = self._pending + chunk
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self._pending = data
            return b""
        complete, self._pending = data[: cut + 2], data[cut + 2 :]
        return self._events(complete)

    def flush(self) -> bytes:
        """Whatever is still held back at the end of the stream."""
        rest, self._pending = self._pending, b""
        if rest:
            return self._events(rest)
        return b""

    def _events(self, data: bytes) -> bytes:
        kept = []
        for event in data.split(b"\n\n"):
            if not event:
                continue
            if event.startswith(_DONE) or b"\n" + _DONE in event:
                self.done = True
            elif any(marker in event for marker in _USAGE_MARKERS):
                if self._take_usage(event):
                    continue
            elif self.strip_usage and b'"usage"' in event:
                event = _NULL_USAGE.sub(b"", event)
            kept.append(event + b"\n\n")
        return b"".join(kept)

    def _take_usage(self, event: bytes) -> bool:
        """Record usage; True when the event carries nothing else and should be hidden."""
        payload = event.split(b"data:", 1)[-1].strip()
        try:
            parsed = orjson.loads(payload)
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


def _might_matter(chunk: bytes) -> bool:
    """Whether a chunk may end the stream, carry the usage totals, or end mid-event."""
    return b"[DONE]" in chunk or not chunk.endswith(b"\n\n") or any(marker in chunk for marker in _USAGE_MARKERS)
