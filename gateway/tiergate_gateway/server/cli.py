"""`tiergate gateway` and `tiergate explain`: flags, and the handlers that run them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


def register(commands: _SubParsers) -> None:
    """Add the `gateway` and `explain` subcommands."""
    gateway = commands.add_parser(
        "gateway",
        help="run the OpenAI-compatible routing gateway",
        description="Serve the OpenAI API and route each request to a tier. Kubernetes mode watches ModelTiers "
        "and RoutingPolicies (in-cluster config or a kubeconfig); --config-dir reads them from a folder.",
    )
    source = gateway.add_mutually_exclusive_group()
    source.add_argument("--config-dir", type=Path, help="local mode: a folder of ModelTier/RoutingPolicy YAML")
    source.add_argument("--kube", action="store_true", help="Kubernetes mode (the default without --config-dir)")
    gateway.add_argument("--namespace", action="append", default=[], help="Kubernetes mode: namespace to watch")
    gateway.add_argument("--kubeconfig", type=Path, help="Kubernetes mode: kubeconfig file")
    gateway.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    gateway.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    gateway.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    gateway.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    gateway.set_defaults(handler=run_gateway)

    explain = commands.add_parser(
        "explain",
        help="print the attempt plan for a prompt, with reasons",
        description="Route a prompt against the tiers and policies of a folder without calling any model.",
    )
    explain.add_argument("--config-dir", type=Path, required=True, help="a folder of ModelTier/RoutingPolicy YAML")
    explain.add_argument("--model", default="auto", help="policy alias or tier name (default: %(default)s)")
    explain.add_argument("--task", help="the task, as the x-tiergate-task header would give it")
    explain.add_argument("--latency-class", help="Realtime, Interactive or Batch")
    explain.add_argument("--max-tokens", type=int, help="max_tokens of the request")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument("prompt", help="the user message")
    explain.set_defaults(handler=run_explain)


def run_gateway(args: argparse.Namespace) -> int:
    """Start uvicorn with the app factory; settings travel to workers as environment variables."""
    import uvicorn

    if args.workers < 1:
        print("tiergate gateway: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.config_dir is not None:
        if not args.config_dir.is_dir():
            print(f"tiergate gateway: config folder {args.config_dir} does not exist", file=sys.stderr)
            return 2
        os.environ["TIERGATE_CONFIG_DIR"] = str(args.config_dir.resolve())
    if args.namespace:
        os.environ["TIERGATE_NAMESPACES"] = '["' + '","'.join(args.namespace) + '"]'
    if args.kubeconfig:
        os.environ["TIERGATE_KUBECONFIG"] = str(args.kubeconfig.resolve())
    os.environ["TIERGATE_LOG_LEVEL"] = args.log_level.upper()
    if args.workers > 1:
        _prepare_multiprocess_metrics()
    from tiergate_gateway.telemetry.logs import configure_logging

    configure_logging(args.log_level, os.environ.get("TIERGATE_LOG_FORMAT", "json"))
    uvicorn.run(
        "tiergate_gateway.server.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="tiergate_gateway.server.serverproto:CoalescingHttpToolsProtocol",
        access_log=False,
        proxy_headers=False,  # nothing reads the client's address; the middleware cost a call per request
        log_level=args.log_level,
        log_config=None,
        timeout_graceful_shutdown=30,
    )
    return 0


def _prepare_multiprocess_metrics() -> None:
    """Point every worker's metrics at one folder, emptied first (stale files would add up)."""
    import shutil
    import tempfile

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tiergate-metrics-")


def run_explain(args: argparse.Namespace) -> int:
    """Print the plan for one prompt."""
    import json

    import orjson

    from tiergate_gateway.core.decision import decide
    from tiergate_gateway.core.errors import GatewayError
    from tiergate_gateway.core.explain import explain_decision, format_explanation
    from tiergate_gateway.core.protocol import parse_request
    from tiergate_gateway.runtime.budget import SpendBook
    from tiergate_gateway.runtime.health import HealthBook
    from tiergate_gateway.runtime.snapshots import SnapshotStore
    from tiergate_gateway.sources.config_dir import ConfigDirSource

    if not args.config_dir.is_dir():
        print(f"tiergate explain: config folder {args.config_dir} does not exist", file=sys.stderr)
        return 2
    store = SnapshotStore()
    snapshot = ConfigDirSource(args.config_dir, store).load()
    body: dict[str, object] = {"model": args.model, "messages": [{"role": "user", "content": args.prompt}]}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    headers = {}
    if args.task:
        headers["x-tiergate-task"] = args.task
    if args.latency_class:
        headers["x-tiergate-latency-class"] = args.latency_class
    try:
        parsed = parse_request(orjson.dumps(body), "chat")
        decision = decide(snapshot, parsed, headers, HealthBook(), SpendBook(), 0.0)
    except GatewayError as exc:
        print(f"tiergate explain: {exc.message}", file=sys.stderr)
        return 1
    document = explain_decision(decision)
    print(json.dumps(document, indent=2) if args.json else format_explanation(document))
    return 0
