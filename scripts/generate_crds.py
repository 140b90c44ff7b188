"""Write crds/*.yaml from the pydantic models (`make crds`); `--check` fails if they are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tiergate_api.crd import KINDS, build_crd
from tiergate_api.yamlio import dump_yaml

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Generated from operator/tiergate_api by `make crds`; do not edit by hand.\n"


def rendered() -> dict[Path, str]:
    """Each CRD file's path and the text it should hold."""
    return {ROOT / "crds" / f"{info.plural}.tiergate.io.yaml": HEADER + dump_yaml(build_crd(info)) for info in KINDS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that crds/ is current")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale CRDs, run `make crds`: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
