"""Copy crds/*.yaml into the chart (charts/tiergate/files/crds/); `--check` fails if the copies are stale.

crds/ is the source of truth (`make crds` writes it from the pydantic models); the chart keeps
byte-for-byte copies because Helm can only read files inside the chart folder. Its template
crds-customresourcedefinitions.yaml adds labels and the keep annotation when it renders them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "crds"
COPIES = ROOT / "charts" / "tiergate" / "files" / "crds"


def stale() -> list[str]:
    """Names of the copies that differ from crds/ or should not be there."""
    wanted = {path.name: path.read_bytes() for path in sorted(SOURCE.glob("*.yaml"))}
    present = {path.name: path.read_bytes() for path in sorted(COPIES.glob("*.yaml"))}
    return sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the chart's copies are current")
    args = parser.parse_args()
    names = stale()
    if args.check:
        if names:
            print(f"stale chart CRDs, run `python scripts/sync_chart_crds.py`: {', '.join(names)}", file=sys.stderr)
            return 1
        return 0
    COPIES.mkdir(parents=True, exist_ok=True)
    for name in names:
        source, copy = SOURCE / name, COPIES / name
        if source.exists():
            copy.write_bytes(source.read_bytes())
            print(f"wrote {copy.relative_to(ROOT)}")
        else:
            copy.unlink()
            print(f"removed {copy.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
