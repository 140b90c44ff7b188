"""The holder of the current snapshot, swapped atomically when a source publishes a new one.

Requests read `SnapshotStore.current` once and use that object for their whole life, so a
reload mid-request never mixes two configurations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tiergate_gateway.core.registry import EMPTY, Snapshot
from tiergate_gateway.telemetry import metrics

log = logging.getLogger(__name__)


class SnapshotStore:
    """Holds the current snapshot; a swap is one attribute assignment, so readers never lock."""

    def __init__(self) -> None:
        self.current: Snapshot = EMPTY
        self._ready = False
        self._version = 0
        self._listeners: list[Callable[[Snapshot], None]] = []

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener` with every snapshot published from now on (live state that follows the tiers)."""
        self._listeners.append(listener)

    @property
    def ready(self) -> bool:
        """Whether a first full snapshot has been loaded."""
        return self._ready

    def publish(self, snapshot: Snapshot) -> None:
        """Make a snapshot current and mark the store ready."""
        for problem in snapshot.problems:
            log.warning(problem)
        self.current = snapshot
        self._ready = True
        metrics.SNAPSHOT_TIMESTAMP.set(snapshot.created_at)
        for listener in self._listeners:
            listener(snapshot)

    def next_version(self) -> int:
        """A new, increasing snapshot version."""
        self._version += 1
        return self._version
