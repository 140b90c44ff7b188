"""Copy crds/*.yaml into the chart (charts/tiergate/files/crds/); `--check` fails if the copies are stale.

crds/ is the source of truth (`make crds` writes it from the pydantic models); the chart keeps
byte-for-byte copies because Helm can only read files inside the chart folder. Its template
crds-customresourcedefinitions.yaml adds labels and the keep annotation when it renders them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mirror import main

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "crds"
COPIES = ROOT / "charts" / "tiergate" / "files" / "crds"

if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], SOURCE, COPIES, "*.yaml", "chart CRDs", ROOT))
