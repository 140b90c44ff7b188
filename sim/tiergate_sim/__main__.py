"""Allow `python -m tiergate_sim [flags]`, the same as `tiergate sim [flags]`."""

from tiergate_sim.cli import main

raise SystemExit(main())
