"""Entry point of the `tiergate` console script.

Each subcommand imports its own package lazily, so `tiergate sim` does not pay for
Kopf and `tiergate operator` does not pay for FastAPI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tiergate_api import __version__


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"tiergate {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiergate",
        description="TierGate: route each LLM request to the smallest model that can do it well.",
    )
    parser.add_argument("--version", action="version", version=f"tiergate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = commands.add_parser("version", help="print the version and exit")
    version.set_defaults(handler=_cmd_version)
    # Each register() costs only argparse; heavy imports happen inside the handlers.
    from tiergate_gateway.replay.cli import register as register_replay
    from tiergate_gateway.server.cli import register as register_gateway
    from tiergate_operator.cli import register as register_operator

    register_gateway(commands)
    register_operator(commands)
    register_replay(commands)
    # The simulator and the demo are development tools: the product image leaves them out,
    # and then `tiergate sim` and `tiergate demo` are simply not offered.
    try:
        from tiergate_sim.cli import register as register_sim
    except ImportError:
        pass
    else:
        register_sim(commands)
    try:
        from tiergate_demo.cli import register_demo
    except ImportError:
        pass
    else:
        register_demo(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
