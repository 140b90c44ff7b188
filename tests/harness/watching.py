"""Watch streams: a bounded, compactable log of changes that watches follow and resume from.

Every write appends a `WatchEvent` with its resourceVersion. A watch follows
the log from a resourceVersion; if that version fell out of the log (the
window filled up, or `compact()` ran, as etcd compaction does), it gets the
`410 Expired` ERROR event a real server sends, and clients relist. Selectors
are applied per watch, and an object moving into or out of a watch's
selection shows up as ADDED or DELETED, as on a real server.

kmock's own `Bus` has no replay by resourceVersion, hence this log.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import errors
from harness.resources import ResourceType
from harness.selectors import FieldSelector, LabelSelector


@dataclass(frozen=True)
class WatchEvent:
    """One change, before per-watch filtering."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: tuple[str, str, str]  # group, version, plural
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(frozen=True)
class WatchFilter:
    """What one watch (or list) selects: a resource, maybe a namespace, selectors."""

    rtype: ResourceType
    namespace: str | None = None
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)

    def sees(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        namespace = obj.get("metadata", {}).get("namespace")
        return ((self.namespace is None or namespace == self.namespace)
                and self.labels.matches(obj) and self.fields.matches(obj))

    @property
    def resource(self) -> tuple[str, str, str]:
        return (self.rtype.group, self.rtype.version, self.rtype.plural)

    def translate(self, event: WatchEvent) -> dict[str, Any] | None:
        """The event as this watch sees it, or None if it does not concern it."""
        if event.resource != self.resource:
            return None
        now_seen, was_seen = self.sees(event.obj), self.sees(event.old)
        if event.type == "MODIFIED":
            event_type = ("MODIFIED" if now_seen and was_seen else "ADDED" if now_seen else
                          "DELETED" if was_seen else None)
        else:
            event_type = event.type if (now_seen or was_seen) else None
        return None if event_type is None else {"type": event_type, "object": copy.deepcopy(event.obj)}


def initial_events_end(rtype: ResourceType, resource_version: int) -> dict[str, Any]:
    """The BOOKMARK that ends the initial events of a `sendInitialEvents=true` watch."""
    return {"type": "BOOKMARK", "object": {
        "apiVersion": rtype.api_version, "kind": rtype.kind,
        "metadata": {"resourceVersion": str(resource_version),
                     "annotations": {"k8s.io/initial-events-end": "true"}}}}


class EventLog:
    """The last `window` events; all methods run on the emulator's loop."""

    def __init__(self, *, window: int = 10_000) -> None:
        self._window = window
        self._events: list[WatchEvent] = []
        self._oldest_rv = 0  # watches must resume from here or later; older ones get 410
        self._changed = asyncio.Event()
        self._epoch = 0  # bumped by close() to end every open watch
        self._open = True  # while closed (the server is going away), new watches end at once

    def append(self, event: WatchEvent) -> None:
        self._events.append(event)
        if len(self._events) > self._window:
            dropped = len(self._events) - self._window // 2
            self._oldest_rv = self._events[dropped - 1].rv
            del self._events[:dropped]
        self._wake()

    def compact(self, resource_version: int) -> None:
        """Forget every event up to the given version."""
        self._events = [event for event in self._events if event.rv > resource_version]
        self._oldest_rv = max(self._oldest_rv, resource_version)
        self._wake()

    def close(self) -> None:
        """End every watch, and every watch that starts until `reopen()`.

        Clients reconnect as soon as their stream ends; without the second half,
        a watch arriving on a kept-alive connection would hold the server's shutdown.
        """
        self._open = False
        self._epoch += 1
        self._wake()

    def reopen(self) -> None:
        self._open = True

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def follow(self, selection: WatchFilter, *, since: int,
               timeout: float | None) -> AsyncIterator[dict[str, Any]]:
        """Stream the events after `since` as the selection sees them, then wait for more.

        The stream belongs to the current server run from this call on, even before
        it is first iterated: `close()` ends it.
        """
        return self._follow(selection, since, self._epoch, timeout)

    async def _follow(self, selection: WatchFilter, cursor: int, epoch: int,
                      timeout: float | None) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while epoch == self._epoch and self._open:
            if cursor < self._oldest_rv:
                yield {"type": "ERROR", "object": errors.expired(cursor, self._oldest_rv)}
                return
            start = bisect.bisect_right(self._events, cursor, key=lambda event: event.rv)
            for event in self._events[start:]:
                cursor = event.rv
                if (shown := selection.translate(event)) is not None:
                    yield shown
            if epoch != self._epoch or (self._events and self._events[-1].rv > cursor):
                continue  # more arrived while the consumer took the last ones
            changed = self._changed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return
