"""`python -m tiergate_operator operator ...`: the subcommand without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from tiergate_operator.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiergate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
