"""Which model sizes handle which tasks, and which sizes each latency class allows.

The numbers are the table of docs/routing.md, section 2: a task's band starts at the size
from which models do it well; a latency class caps the size (exclusive).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tiergate_api.enums import LatencyClass, Task

TASK_MIN_BILLIONS: Final[dict[Task, Decimal]] = {
    Task.CHAT: Decimal(0),
    Task.CLASSIFICATION: Decimal(1),
    Task.SUMMARIZATION: Decimal(3),
    Task.EXTRACTION: Decimal(3),
    Task.CODE_GENERATION: Decimal(7),
    Task.REASONING: Decimal(14),
    Task.CREATIVE_WRITING: Decimal(32),
}

TASK_HARD_MIN_BILLIONS: Final[dict[Task, Decimal]] = {
    Task.CHAT: Decimal(7),
    Task.CLASSIFICATION: Decimal(3),
    Task.SUMMARIZATION: Decimal(7),
    Task.EXTRACTION: Decimal(7),
    Task.CODE_GENERATION: Decimal(14),
    Task.REASONING: Decimal(32),
    Task.CREATIVE_WRITING: Decimal(70),
}
"""Where the upper part of each task's range starts: the size a hard request of the task wants
(docs/routing.md, section 2: code 7-14B, reasoning 14-32B and up)."""

LATENCY_CLASS_MAX_BILLIONS: Final[dict[LatencyClass, Decimal | None]] = {
    LatencyClass.REALTIME: Decimal(7),
    LatencyClass.INTERACTIVE: Decimal(14),
    LatencyClass.BATCH: None,
}


def default_tasks(size_billions: Decimal) -> frozenset[Task]:
    """Tasks a tier of this size handles when it lists none: every band starting at or below it."""
    return frozenset(task for task, start in TASK_MIN_BILLIONS.items() if start <= size_billions)


def loose_name(value: str) -> str:
    """A name as headers and services may spell it: case, dashes, underscores and spaces ignored."""
    return value.replace("-", "").replace("_", "").replace(" ", "").lower()


_TASKS_BY_LOOSE_NAME: Final = {loose_name(task.value): task for task in Task}


def task_named(value: str) -> Task | None:
    """The task a header or a classifier service names (`loose_name`), or None."""
    return _TASKS_BY_LOOSE_NAME.get(loose_name(value))
