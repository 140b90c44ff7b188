"""Allow `python -m tiergate_cli`."""

from tiergate_cli.main import main

raise SystemExit(main())
