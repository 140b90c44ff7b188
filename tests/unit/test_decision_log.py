"""The decision log's file handling: batches, rotation, a bound on disk use, several writers."""

from __future__ import annotations

import json
from pathlib import Path

from tiergate_gateway.telemetry.decisionlog import DecisionLog


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_are_written_whole_and_in_order(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "d.jsonl", max_bytes=1 << 20, backups=2, capture_content=False)
    for n in range(10):
        log.record({"n": n})
    log.close()
    assert [line["n"] for line in lines_of(tmp_path / "d.jsonl")] == list(range(10))


def test_rotation_keeps_at_most_the_backups_and_loses_only_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, max_bytes=1000, backups=2, capture_content=False)
    for n in range(200):  # ~20 bytes a line: about 4,000 bytes, four files' worth
        log.record({"n": n, "pad": "x" * 8})
        log.flush()
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    kept = [line["n"] for name in ("d.jsonl.2", "d.jsonl.1", "d.jsonl") for line in lines_of(tmp_path / name)]
    assert kept == list(range(kept[0], 200))  # contiguous up to the newest: only the oldest lines are gone


def test_two_writers_of_one_file_lose_no_line_across_a_rotation(tmp_path: Path) -> None:
    """Two workers: one rotates, the other notices at its next write and follows to the new file."""
    path = tmp_path / "d.jsonl"
    first = DecisionLog(path, max_bytes=300, backups=9, capture_content=False)
    second = DecisionLog(path, max_bytes=300, backups=9, capture_content=False)
    for n in range(120):
        (first if n % 2 else second).record({"n": n})
        (first if n % 2 else second).flush()
    first.close()
    second.close()
    seen = sorted(line["n"] for p in tmp_path.glob("d.jsonl*") if not p.name.endswith(".lock") for line in lines_of(p))
    assert seen == list(range(120))
    assert (tmp_path / "d.jsonl.1").exists()


def test_an_unwritable_log_drops_lines_without_raising(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    log = DecisionLog(blocked / "d.jsonl", max_bytes=1000, backups=1, capture_content=False)  # parent is a file
    log.record({"n": 1})
    log.close()  # no exception: requests never fail for the log's sake
