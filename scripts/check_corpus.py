"""Check task-corpus files (corpus/GUIDE.md): format, unique ids, known tasks and tags; print the counts.

Run: `.venv/bin/python scripts/check_corpus.py corpus/raw/*.jsonl`. Exits 1 when a line is wrong.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

TASKS = {"Chat", "Classification", "Summarization", "Extraction", "CodeGeneration", "Reasoning", "CreativeWriting"}
TAGS = {"no-keyword", "multi-turn", "follow-up", "long-document", "system-prompt", "genre", "tool-named", "confusable"}
ROLES = {"system", "user", "assistant"}
ID = re.compile(r"^[a-z0-9]+-\d{4}$")


def problems_of(row: object) -> list[str]:
    if not isinstance(row, dict):
        return ["not an object"]
    found = []
    if not isinstance(row.get("id"), str) or not ID.match(row["id"]):
        found.append("id must look like w3-0042")
    if row.get("task") not in TASKS:
        found.append(f"unknown task {row.get('task')!r}")
    if not isinstance(row.get("language"), str) or not re.fullmatch(r"[a-z]{2}", row["language"]):
        found.append("language must be an ISO 639-1 code")
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not set(tags) <= TAGS:
        found.append(f"unknown tags {sorted(set(tags) - TAGS) if isinstance(tags, list) else tags}")
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*found, "messages must be a non-empty list"]
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            found.append("each message needs a role (system, user, assistant) and text content")
            break
        if not message["content"].strip():
            found.append("empty message")
            break
    if messages[-1].get("role") != "user":
        found.append("the last message must be a user turn")
    users = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")
    if "multi-turn" in tags and users < 2:
        found.append("tagged multi-turn with one user turn")
    return found


def main(paths: list[str]) -> int:
    rows, bad, ids = [], 0, Counter()
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"{path}:{number}: not JSON: {exc}")
                bad += 1
                continue
            problems = problems_of(row)
            if problems:
                print(f"{path}:{number}: {'; '.join(problems)}")
                bad += 1
                continue
            ids[row["id"]] += 1
            rows.append(row)
    for duplicate in (i for i, n in ids.items() if n > 1):
        print(f"duplicate id {duplicate}")
        bad += 1
    seen: dict[str, str] = {}
    for row in rows:
        key = re.sub(r"\W+", " ", row["messages"][-1]["content"].lower()).strip()[:80]
        if key in seen:
            print(f"near-duplicate: {row['id']} and {seen[key]}")
        seen[key] = row["id"]
    print(f"{len(rows)} prompts, {bad} bad lines")
    for name, counts in (
        ("task", Counter(r["task"] for r in rows)),
        ("language", Counter(r["language"] for r in rows)),
        ("tag", Counter(t for r in rows for t in r.get("tags", []))),
    ):
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
