"""Every prompt of the regression set (and of the dev set, where present) keeps its exact decision.

`tests/data/classifier-golden.jsonl` holds, per conversation, the task, confidence and cues the
classifier gave it, and a hash of the conversation. It pins the classifier's behaviour across
changes that should not alter any decision (speed work, refactoring). After an intentional
change to the cues or weights, look at what moved, then rewrite the file:

    .venv/bin/python tests/unit/test_classify_golden.py --write
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tiergate_gateway.core.classify import classify_messages

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "classifier-golden.jsonl"
SETS = {
    "regression": ROOT / "tests" / "data" / "classifier-regression.jsonl",
    "dev": Path(os.environ.get("TIERGATE_TASKS_DEV", ROOT.parent / "shared" / "data" / "tasks-dev.jsonl")),
}


def _digest(messages: Any) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _decision(messages: Any) -> dict[str, Any]:
    result = classify_messages(messages)
    return {"task": result.task.value, "confidence": result.confidence, "cues": list(result.cues)}


def _golden() -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["set"], row["id"]): row for row in _rows(GOLDEN)}


def _changes(name: str) -> tuple[list[str], int]:
    """Conversations of one set whose decision differs from the golden one, and how many were compared."""
    golden = _golden()
    changed, compared = [], 0
    for row in _rows(SETS[name]):
        pinned = golden.get((name, row["id"]))
        if pinned is None or pinned["sha256"] != _digest(row["messages"]):
            continue
        compared += 1
        got = _decision(row["messages"])
        if got != {key: pinned[key] for key in ("task", "confidence", "cues")}:
            changed.append(f"{row['id']}: {pinned['task']} {pinned['confidence']} {pinned['cues']} -> {got}")
    return changed, compared


def test_regression_set_decisions_are_unchanged() -> None:
    changed, compared = _changes("regression")
    assert compared == len(_rows(SETS["regression"])), "the regression set changed: rewrite the golden file (--write)"
    assert not changed, "\n".join(changed)


@pytest.mark.skipif(not SETS["dev"].exists(), reason=f"labelled dev set not found at {SETS['dev']}")
def test_dev_set_decisions_are_unchanged() -> None:
    changed, compared = _changes("dev")
    assert compared, "no dev-set conversation matches the golden file"
    assert not changed, "\n".join(changed)


def _write() -> None:
    lines = []
    for name, path in SETS.items():
        if not path.exists():
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        for row in _rows(path):
            record = {"set": name, "id": row["id"], "sha256": _digest(row["messages"]), **_decision(row["messages"])}
            lines.append(json.dumps(record, ensure_ascii=False))
    GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} decisions to {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    _write()
