"""Gateway throughput and added latency, side by side with the direct upstream, using wrk.

Run: `make bench` (or `.venv/bin/python bench/gateway_bench.py --duration 10`).
Upstream: `tiergate sim` with zero delays. For each concurrency the same wrk run is made
against the upstream directly and through the gateway (one worker unless --workers), so
the difference is what the gateway adds. Prints a table and writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tiergate_gateway.process import GatewayProcess, start_gateway
from tiergate_gateway.sim.process import start_sim

ROOT = Path(__file__).resolve().parent.parent
BODY = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Classify the sentiment: great service"}],
    "max_tokens": 8,
}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _lua(path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    return textwrap.dedent(
        f"""
        wrk.method = "POST"
        wrk.path = "{path}"
        wrk.body = [[{json.dumps(body)}]]
        wrk.headers["Content-Type"] = "application/json"
        {header_lines}
        """
    )


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not match:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, script: Path, connections: int, duration: float) -> dict[str, float]:
    """One wrk run; returns requests/s, latency percentiles (ms) and error count."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        result[key] = _ms(re.search(rf"^\s+{re.escape(label)}\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    result["max"] = _ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    if socket_errors:
        result["errors"] += sum(float(g) for g in socket_errors.groups())
    return result


def _rss_mb(pid: int) -> float:
    total = 0.0
    for proc in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{proc}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            total = max(total, int(match.group(1)) / 1024)
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("gateway_bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tiergate-bench-") as tmp:
        work = Path(tmp)
        sim = start_sim(["--model", "bench/model", "--output-tokens", "8"])
        try:
            config = work / "config"
            config.mkdir()
            tier = {
                "apiVersion": "tiergate.io/v1alpha1",
                "kind": "ModelTier",
                "metadata": {"name": "upstream"},
                "spec": {"model": "bench/model", "size": "1B", "endpoint": {"url": sim.base_url, "locality": "Local"}},
            }
            policy = {
                "apiVersion": "tiergate.io/v1alpha1",
                "kind": "RoutingPolicy",
                "metadata": {"name": "bench"},
                "spec": {"modelAlias": "auto", "tiers": [{"name": "upstream"}]},
            }
            (config / "all.yaml").write_text(yaml.safe_dump_all([tier, policy]))
            gateway = start_gateway(
                ["--config-dir", str(config), "--workers", str(args.workers), "--log-level", "warning"],
                work / "gateway.log",
            )
            try:
                return _measure(args, work, sim.url, gateway)
            finally:
                gateway.stop()
        finally:
            sim.stop()


def _measure(args: argparse.Namespace, work: Path, upstream: str, gateway: GatewayProcess) -> int:
    direct_script = work / "direct.lua"
    direct_script.write_text(_lua("/v1/chat/completions", {**BODY, "model": "bench/model"}, {}))
    gateway_script = work / "gateway.lua"
    gateway_script.write_text(_lua("/v1/chat/completions", BODY, {"x-tiergate-task": "Classification"}))
    assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY).status_code == 200
    rows = []
    for connections in args.concurrency:
        for url, script in ((upstream, direct_script), (gateway.url, gateway_script)):
            run_wrk(url, script, connections, args.warmup)
        direct = run_wrk(upstream, direct_script, connections, args.duration)
        through = run_wrk(gateway.url, gateway_script, connections, args.duration)
        rows.append(
            {
                "concurrency": connections,
                "direct": direct,
                "gateway": through,
                "added_p50_ms": round(through["p50"] - direct["p50"], 3),
                "added_p99_ms": round(through["p99"] - direct["p99"], 3),
            }
        )
    rss = _rss_mb(gateway.process.pid)
    report = {
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "load": _load()},
        "workers": args.workers,
        "duration_s": args.duration,
        "upstream": "tiergate sim, zero delays",
        "rows": rows,
        "gateway_peak_rss_mb": round(rss, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"gateway benchmark ({args.workers} worker(s), {args.duration:g}s per run, load {report['machine']['load']})")
    print(f"{'conc':>4} {'target':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    for row in rows:
        for name in ("direct", "gateway"):
            r = row[name]
            print(
                f"{row['concurrency']:>4} {name:<8} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
                f"{r['max']:>8.2f} {r['errors']:>6.0f}"
            )
        print(f"{'':>4} added    {'':>9} {row['added_p50_ms']:>8.2f} {row['added_p99_ms']:>8.2f}")
    print(f"gateway peak RSS: {rss:.1f} MB; JSON: {args.output}")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"took {time.monotonic() - started:.0f}s")
    sys.exit(code)
