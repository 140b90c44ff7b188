"""`tiergate replay`: flags, and the handler that wires the log reader, the offline replay, the live
replay and the outputs together."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiergate_gateway.core.registry import Snapshot
    from tiergate_gateway.core.views import PolicyView, TierView

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction

MAX_RATE = 1000.0
"""Requests per second `--live` may send at most: a replay must never become a load test by accident."""


def register(commands: _SubParsers) -> None:
    """Add the `replay` subcommand."""
    replay = commands.add_parser(
        "replay",
        help="what routing would do (and cost) on a log of requests",
        description="Replay request logs (JSON Lines, .gz too) through the policies of a folder with TierGate's "
        "own classifier and planner, offline, and compare them with sending everything to one model. "
        "--live also sends them to a running gateway and measures.",
    )
    replay.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="request log (JSON Lines, .gz, - for stdin)")
    replay.add_argument("--config-dir", type=Path, required=True, help="a folder of ModelTier/RoutingPolicy YAML")
    replay.add_argument(
        "--policy", action="append", default=[], help="policy (model alias or name) to replay; repeat; default: all"
    )
    replay.add_argument("--baseline", help="the tier of 'everything on one model' (default: the largest tier)")
    replay.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON (- for stdout)")
    replay.add_argument("--report", type=Path, metavar="OUT.html", help="write a self-contained HTML report")
    replay.add_argument("--live", metavar="URL", help="also send the requests to the gateway at URL and measure")
    replay.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help=f"--live: requests per second (default %(default)s, at most {MAX_RATE:g})",
    )
    replay.add_argument(
        "--concurrency", type=int, default=16, help="--live: most requests in flight (default %(default)s)"
    )
    replay.add_argument(
        "--stream",
        action="store_true",
        help="--live: send every request as a stream, so time to first token is measured",
    )
    replay.add_argument("--limit", type=int, help="--live: send at most this many requests")
    replay.add_argument(
        "--api-key-file", type=Path, help="--live: a file holding the gateway key (else $TIERGATE_API_KEY)"
    )
    replay.set_defaults(handler=run_replay)


def _fail(message: str) -> int:
    print(f"tiergate replay: {message}", file=sys.stderr)
    return 2


def select(
    snapshot: Snapshot, names: list[str], baseline_name: str | None
) -> tuple[list[PolicyView], list[TierView], TierView | None] | str:
    """The policies, the single tiers and the baseline to replay; an error message when a name is unknown."""
    from tiergate_gateway.core.baseline import largest_tier

    by_name = {p.name: p for p in snapshot.policies.values()}
    policies: list[PolicyView] = []
    for name in names:
        found = snapshot.policies.get(name) or by_name.get(name)
        if found is None:
            known = ", ".join(sorted(snapshot.policies)) or "none"
            return f"no policy {name!r} in the config folder (model aliases: {known})"
        if found not in policies:
            policies.append(found)
    if not names:
        policies = [snapshot.policies[alias] for alias in sorted(snapshot.policies)]
    if not policies:
        return "the config folder has no RoutingPolicy to replay"
    tiers: dict[str, TierView] = {}
    for policy in policies:
        for tier in policy.all_tiers:
            tiers.setdefault(tier.key, tier)
    if baseline_name is not None:
        baseline = snapshot.tiers_by_name.get(baseline_name)
        if baseline is None:
            known = ", ".join(sorted(n for n in snapshot.tiers_by_name if "/" not in n)) or "none"
            return f"no tier {baseline_name!r} for --baseline (tiers: {known})"
        tiers.setdefault(baseline.key, baseline)
    else:
        baseline = largest_tier(tiers.values())
    singles = sorted(tiers.values(), key=lambda t: (t.billions, t.name))
    return policies, singles, baseline


def run_replay(args: argparse.Namespace) -> int:
    """Replay the logs; print the table; write the JSON and the report when asked."""
    import time

    import orjson

    from tiergate_api import __version__
    from tiergate_gateway.replay.document import build_document
    from tiergate_gateway.replay.lines import BadLine, LoggedRequest
    from tiergate_gateway.replay.logfile import read_log
    from tiergate_gateway.replay.offline import OfflineReplay, what_if
    from tiergate_gateway.replay.text import format_document
    from tiergate_gateway.runtime.snapshots import SnapshotStore
    from tiergate_gateway.sources.config_dir import ConfigDirSource

    if not args.config_dir.is_dir():
        return _fail(f"config folder {args.config_dir} does not exist")
    if args.live and not 0 < args.rate <= MAX_RATE:
        return _fail(f"--rate must be above 0 and at most {MAX_RATE:g} requests per second")
    if args.live and not 1 <= args.concurrency <= 1024:
        return _fail("--concurrency must be from 1 to 1024")
    snapshot = what_if(ConfigDirSource(args.config_dir, SnapshotStore()).load())
    chosen = select(snapshot, args.policy, args.baseline)
    if isinstance(chosen, str):
        return _fail(chosen)
    policies, singles, baseline = chosen
    replay = OfflineReplay(policies, singles, baseline)
    started = time.perf_counter()
    requests: list[LoggedRequest] = []
    keep = args.live is not None
    for path in args.logs:
        for item in read_log(path):
            if isinstance(item, BadLine):
                replay.bad(item)
            else:
                replay.add(item)
                if keep and (args.limit is None or len(requests) < args.limit):
                    requests.append(item)
    elapsed = time.perf_counter() - started
    live = None
    if args.live:
        from tiergate_gateway.replay.live import LiveOptions, run_live

        key = _api_key(args.api_key_file)
        if isinstance(key, int):
            return key
        live = run_live(
            args.live,
            requests,
            LiveOptions(
                policies=[p.alias for p in policies] if args.policy else [],
                snapshot=snapshot,
                rate=args.rate,
                concurrency=args.concurrency,
                api_key=key,
                stream=args.stream,
            ),
        )
    document = build_document(
        replay,
        config_dir=str(args.config_dir),
        logs=[str(p) for p in args.logs],
        version=__version__,
        live=live,
    )
    if args.json is not None:
        encoded = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        if str(args.json) == "-":
            sys.stdout.buffer.write(encoded)
            sys.stdout.flush()
        else:
            args.json.write_bytes(encoded)
    if args.report is not None:
        from tiergate_gateway.pages.report import render_report

        args.report.write_text(render_report(document), encoding="utf-8")
    out = sys.stderr if args.json is not None and str(args.json) == "-" else sys.stdout
    print(format_document(document, str(args.report) if args.report else None), file=out)
    rate = document["requests"]["lines"] / elapsed if elapsed > 0 else 0.0
    print(f"(replayed offline in {elapsed:.2f} s, {rate:,.0f} lines/s)", file=out)
    return 0


def _api_key(path: Path | None) -> str | int | None:
    """The gateway key for --live: from the file, else $TIERGATE_API_KEY, else none (auth off)."""
    import os

    if path is None:
        return os.environ.get("TIERGATE_API_KEY") or None
    try:
        return path.read_text().strip() or None
    except OSError as exc:
        return _fail(f"cannot read --api-key-file {path}: {exc.strerror}")
