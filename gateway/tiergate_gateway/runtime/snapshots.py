"""The holder of the current snapshot, swapped atomically when a source publishes a new one.

Requests read `SnapshotStore.current` once and use that object for their whole life, so a
reload mid-request never mixes two configurations.
"""

from __future__ import annotations

import asyncio
import logging

from tiergate_gateway.core.registry import EMPTY, Snapshot
from tiergate_gateway.telemetry import metrics

log = logging.getLogger(__name__)


class SnapshotStore:
    """Holds the current snapshot; a swap is one attribute assignment, so readers never lock."""

    def __init__(self) -> None:
        self.current: Snapshot = EMPTY
        self._loaded = asyncio.Event()
        self._version = 0

    @property
    def ready(self) -> bool:
        """Whether a first full snapshot has been loaded."""
        return self._loaded.is_set()

    def publish(self, snapshot: Snapshot) -> None:
        """Make a snapshot current and mark the store ready."""
        for problem in snapshot.problems:
            log.warning(problem)
        self.current = snapshot
        self._loaded.set()
        metrics.SNAPSHOT_TIMESTAMP.set(snapshot.created_at)

    def next_version(self) -> int:
        """A new, increasing snapshot version."""
        self._version += 1
        return self._version

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first snapshot; False on timeout."""
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            return False
        return True
