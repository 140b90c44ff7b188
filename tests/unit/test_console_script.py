"""The console script without the development packages: what the product image runs."""

from __future__ import annotations

import subprocess
import sys

# Make `tiergate_sim` and `tiergate_demo` unimportable, as they are in the product image.
WITHOUT_DEV_TOOLS = """
import sys
sys.modules["tiergate_sim"] = None
sys.modules["tiergate_demo"] = None
from tiergate_cli.main import build_parser
commands = next(a for a in build_parser()._actions if a.dest == "command")
print(" ".join(sorted(commands.choices)))
"""


def test_product_offers_gateway_and_operator_without_sim_and_demo() -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_DEV_TOOLS], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["explain", "gateway", "operator", "replay", "version"]


def test_development_install_offers_sim_and_demo_too() -> None:
    from tiergate_cli.main import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"sim", "demo", "gateway", "operator"} <= set(commands.choices)
