"""Allow `python -m tiergate_gateway.sim [flags]`, the same as `tiergate sim [flags]`."""

from tiergate_gateway.sim.cli import main

raise SystemExit(main())
