"""Keep a folder of byte-for-byte copies in step with its source folder (the chart's CRDs, the dashboard docs).

Shared by `sync_chart_crds.py` and `sync_dashboard.py`: each names the two folders and the file pattern.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def stale(source: Path, copies: Path, pattern: str) -> list[str]:
    """Names of the copies that differ from the source or should not be there."""
    wanted = {path.name: path.read_bytes() for path in sorted(source.glob(pattern))}
    present = {path.name: path.read_bytes() for path in sorted(copies.glob(pattern))}
    return sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))


def main(description: str, source: Path, copies: Path, pattern: str, what: str, root: Path) -> int:
    """Copy what changed (or, with --check, fail naming it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"only check that the {what} are current")
    args = parser.parse_args()
    names = stale(source, copies, pattern)
    if args.check:
        if names:
            print(f"stale {what}, run `python scripts/{Path(sys.argv[0]).name}`: {', '.join(names)}", file=sys.stderr)
            return 1
        return 0
    copies.mkdir(parents=True, exist_ok=True)
    for name in names:
        source_file, copy = source / name, copies / name
        if source_file.exists():
            copy.write_bytes(source_file.read_bytes())
            print(f"wrote {copy.relative_to(root)}")
        else:
            copy.unlink()
            print(f"removed {copy.relative_to(root)}")
    return 0
