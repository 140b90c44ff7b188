"""Copy the chart's Grafana dashboard to docs/grafana/; `--check` fails if the copy is stale.

charts/tiergate/dashboards/tiergate-gateway.json is the source of truth: the chart embeds it
in its dashboard ConfigMap (Helm reads only files inside the chart folder). docs/grafana/ keeps
a byte-for-byte copy for importing the dashboard by hand, without the chart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "charts" / "tiergate" / "dashboards"
COPIES = ROOT / "docs" / "grafana"


def stale() -> list[str]:
    """Names of the copies that differ from the chart's dashboards or should not be there."""
    wanted = {path.name: path.read_bytes() for path in sorted(SOURCE.glob("*.json"))}
    present = {path.name: path.read_bytes() for path in sorted(COPIES.glob("*.json"))}
    return sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the docs copies are current")
    args = parser.parse_args()
    names = stale()
    if args.check:
        if names:
            print(
                f"stale dashboard copies, run `python scripts/sync_dashboard.py`: {', '.join(names)}", file=sys.stderr
            )
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
