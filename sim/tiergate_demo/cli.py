"""The `tiergate demo` subcommand (registered by the console script when this package is installed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


def register_demo(commands: _SubParsers) -> None:
    """Add the `demo` subcommand."""
    demo = commands.add_parser(
        "demo",
        help="run simulated tiers and the gateway, route a sample workload, print where it went",
        description="Start one simulator per tier of examples/local, the gateway in local mode, and send a mixed "
        "workload; prints each request's task, tier, attempts, latency and cost against the largest tier, then "
        "replays the gateway's decision log through every policy (tiergate replay) and writes an HTML report.",
    )
    demo.add_argument(
        "--output",
        type=Path,
        default=Path("demo-output"),
        help="where the decision log, the replay's JSON and its HTML report go (default: %(default)s)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo."""
    from tiergate_demo.runner import main

    return main(args.output)
