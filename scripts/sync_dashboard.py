"""Copy the chart's Grafana dashboard to docs/grafana/; `--check` fails if the copy is stale.

charts/tiergate/dashboards/tiergate-gateway.json is the source of truth: the chart embeds it
in its dashboard ConfigMap (Helm reads only files inside the chart folder). docs/grafana/ keeps
a byte-for-byte copy for importing the dashboard by hand, without the chart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mirror import main

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "charts" / "tiergate" / "dashboards"
COPIES = ROOT / "docs" / "grafana"

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], SOURCE, COPIES, "*.json", "dashboard copies", ROOT))
