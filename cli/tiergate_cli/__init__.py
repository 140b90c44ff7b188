"""The `tiergate` command line: one console script, one subcommand per process kind."""
