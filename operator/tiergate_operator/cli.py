"""`tiergate operator`: run the Kopf operator in this process.

`register` adds the subcommand to the `tiergate` parser; `run` starts Kopf with the
handlers of `tiergate_operator.handlers` and blocks until SIGINT/SIGTERM. Kopf and the
handlers are imported inside `run`, so other subcommands do not pay for them.

Deployment: one replica with the `Recreate` strategy is the default, so two operators
never write at once. To run more replicas (a warm standby), give them all the same
`--peering NAME` (the KopfPeering resource must exist): the replica with the highest
priority works, the others pause until it disappears. Each replica gets a random
priority unless `--priority` is given, because Kopf lets peers of equal priority
run side by side.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `operator` subcommand."""
    parser = commands.add_parser(
        "operator",
        help="run the Kubernetes operator (ModelTier -> vLLM Deployment and Service, policy checks)",
        description="Run the TierGate operator. Rendering and pacing are configured by TIERGATE_OPERATOR_* "
        "environment variables (see tiergate_operator.settings).",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable); the default is every namespace",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (the default)")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="do not coordinate with other replicas (no peering)")
    peering.add_argument(
        "--peering", metavar="NAME", help="coordinate replicas through this KopfPeering: only one works at a time"
    )
    parser.add_argument("--priority", type=int, help="peering priority (default: random, so exactly one replica leads)")
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve a liveness endpoint, for example http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port", type=int, default=9090, help="port of /metrics on all interfaces; 0 turns it off"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="INFO", type=str.upper, help="log level")
    parser.set_defaults(handler=run)


def kopf_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `kopf.run`/`kopf.operator` that the command line decides."""
    namespaces = list(dict.fromkeys(args.namespace or []))
    options: dict[str, Any] = {
        "clusterwide": not namespaces,
        "namespaces": namespaces,
        "liveness_endpoint": args.liveness,
    }
    if args.standalone:
        options["standalone"] = True
    if args.peering:
        options["peering_name"] = args.peering
        options["priority"] = args.priority if args.priority is not None else random.randint(1, 2**31 - 1)
    elif args.priority is not None:
        options["priority"] = args.priority
    return options


class _HandlerSuccessFilter(logging.Filter):
    """Drops Kopf's "Handler '...' succeeded." lines: one per watch event adds nothing at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            record.levelno == logging.INFO and message.startswith("Handler '") and message.endswith(" succeeded.")
        )


class TraceIds(logging.Filter):
    """Adds the active span's trace and span ids, so a reconcile's log lines lead to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def configure_logging(level_name: str) -> None:
    """JSON log lines (Kopf's, with trace ids) at the requested level; client libraries stay at WARNING."""
    import kopf

    level = getattr(logging, level_name)
    text = os.environ.get("TIERGATE_LOG_FORMAT", "json") == "text"
    log_format = kopf.LogFormat.FULL if text else kopf.LogFormat.JSON  # one JSON object per line by default
    kopf.configure(debug=level <= logging.DEBUG, quiet=level >= logging.WARNING, log_format=log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceIds())
    logging.getLogger().setLevel(level)
    if level > logging.DEBUG:
        logging.getLogger("kopf.objects").addFilter(_HandlerSuccessFilter())
        for noisy in ("aiohttp", "kubernetes_asyncio", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Run the operator until it is told to stop; 0 on a clean stop."""
    import kopf

    from tiergate_operator.handlers import registry
    from tiergate_operator.settings import OperatorConfig
    from tiergate_operator.telemetry import serve_metrics, setup_tracing

    config = OperatorConfig()  # read once, here; handlers find it in the memo
    configure_logging(args.log_level)
    serve_metrics(args.metrics_port)
    setup_tracing()
    try:
        kopf.run(registry=registry, memo=kopf.Memo(config=config), **kopf_options(args))
    except KeyboardInterrupt:
        return 0
    return 0
