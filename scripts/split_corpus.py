"""Split the task corpus once into train / dev / test (corpus/GUIDE.md; issue 18).

Seeded and stratified: within each (task, language) the rows are shuffled with a fixed seed and
dealt 70 / 15 / 15. Rows that share a pasted document (the same first 300 characters of a message
longer than 600) form one group and go to one split together, so a document seen in training never
reappears in the test split. The splits are written to corpus/splits/ and committed: "once" means
this script is not re-run after tuning starts; `tests/unit/test_corpus_split.py` checks that the
committed files are what it produces.

Run: `.venv/bin/python scripts/split_corpus.py [--check]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "corpus" / "raw"
SPLITS = ROOT / "corpus" / "splits"
SEED = 18
SHARES = (("train", 0.70), ("dev", 0.15), ("test", 0.15))


def rows() -> list[dict[str, object]]:
    found = []
    for path in sorted(RAW.glob("*.jsonl")):
        found += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(found, key=lambda r: str(r["id"]))


def group_of(row: dict[str, object]) -> str:
    """Rows that paste the same long document share a group; every other row is its own."""
    longest = max((str(m["content"]) for m in row["messages"]), key=len)  # type: ignore[attr-defined]
    if len(longest) > 600:
        return "doc:" + hashlib.sha256(re.sub(r"\s+", " ", longest[:300]).encode()).hexdigest()[:16]
    return "row:" + str(row["id"])


def split(all_rows: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in all_rows:
        groups[group_of(row)].append(row)
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, members in sorted(groups.items()):
        first = members[0]
        strata[(str(first["task"]), str(first["language"]))].append(name)
    out: dict[str, list[dict[str, object]]] = {name: [] for name, _ in SHARES}
    rng = random.Random(SEED)
    for key in sorted(strata):
        names = strata[key]
        rng.shuffle(names)
        total = sum(len(groups[n]) for n in names)
        placed = {name: 0 for name, _ in SHARES}
        for name in names:
            size = len(groups[name])
            # the split furthest below its share takes the next group
            target = min(SHARES, key=lambda s: (placed[s[0]] + size / 2) / (s[1] * total) if total else 0)[0]
            out[target].extend(groups[name])
            placed[target] += size
    return {name: sorted(members, key=lambda r: str(r["id"])) for name, members in out.items()}


def encode(members: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that corpus/splits/ is up to date")
    args = parser.parse_args(argv)
    result = split(rows())
    if args.check:
        stale = [n for n, m in result.items() if (SPLITS / f"{n}.jsonl").read_text(encoding="utf-8") != encode(m)]
        if stale:
            print(f"corpus/splits/ differs from the raw corpus for: {', '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    SPLITS.mkdir(parents=True, exist_ok=True)
    for name, members in result.items():
        (SPLITS / f"{name}.jsonl").write_text(encode(members), encoding="utf-8")
        print(f"{name}: {len(members)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
