"""The gateway benchmark suite: side by side with the direct upstream (and LiteLLM), using wrk.

Run: `make bench` (or `.venv/bin/python bench/gateway_bench.py`); `make bench-compare` adds
LiteLLM's proxy from its own virtual environment. The upstream is `tiergate sim` with zero
delays (it answers 8,000-14,000 requests/s on one core here, far beyond the gateway, so it is
never the bottleneck). Every TierGate row runs the configuration a user gets by default: no
`x-tiergate-task` header (the classifier decides the task) and the default log level (one
access line per request). Rows, each measured after a warm-up:

- direct to the upstream, at concurrency 1 and 32;
- TierGate, one worker, at concurrency 1 and 32 (the headline);
- what the knobs buy, one worker: the task given in a header (no classifier) with logs at
  warning (no access log), at 1 and 32; and the access log off alone, at 32;
- TierGate, two workers, at 32;
- TierGate, one worker, tracing every request (100% sampling, exported to a local OTLP sink);
- LiteLLM's proxy, one worker, at 1 and 32 (when .venv-litellm exists);
- a bare one-hop proxy (bench/hop_proxy.py) at concurrency 1: the floor any proxy pays;
- streaming: time to first byte at concurrency 1, direct vs through the gateway vs through the
  one-hop proxy, interleaved in rounds;
- memory: the gateway's RSS after 50,000 and 100,000 requests (`--memory-requests`).

Added latency is the gateway's percentile minus the direct one from the same run. Prints a
table and writes bench/results/gateway.json. Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml

from tiergate_demo.process import GatewayProcess, free_port, start_gateway
from tiergate_sim.process import SimProcess, start_sim

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bench/model"
BODY = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Classify the sentiment: great service"}],
    "max_tokens": 8,
}
HEADERS: dict[str, str] = {}
"""The default configuration: no task header, so the classifier runs on every request."""
TASK_HEADER = {"x-tiergate-task": "Classification"}
LEAN_LOGS = ["--log-level", "warning"]
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


# ---------------------------------------------------------------- wrk


def _lua(body: dict[str, Any], headers: dict[str, str]) -> str:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    return textwrap.dedent(
        f"""
        wrk.method = "POST"
        wrk.path = "/v1/chat/completions"
        wrk.body = [[{json.dumps(body)}]]
        wrk.headers["Content-Type"] = "application/json"
        {lines}
        """
    )


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not match:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, script: Path, connections: int, duration: float) -> dict[str, float]:
    """One wrk run: requests/s, latency percentiles and max (ms), request and error counts."""
    threads = min(2, connections)
    seconds = max(1, round(duration))  # wrk takes whole seconds
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    result: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        result[key] = _ms(re.search(rf"^\s+{re.escape(label)}\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    result["max"] = _ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    result["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    if socket_errors:
        result["errors"] += sum(float(g) for g in socket_errors.groups())
    return result


# ---------------------------------------------------------------- processes


def _config(folder: Path, upstream: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tier = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": "upstream"},
        "spec": {"model": MODEL, "size": "1B", "endpoint": {"url": upstream, "locality": "Local"}},
    }
    policy = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "bench"},
        "spec": {"modelAlias": "auto", "tiers": [{"name": "upstream"}]},
    }
    (folder / "all.yaml").write_text(yaml.safe_dump_all([tier, policy]))
    return folder


@contextlib.contextmanager
def _gateway(
    work: Path,
    name: str,
    upstream: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> Iterator[GatewayProcess]:
    config = _config(work / name, upstream)
    args = ["--config-dir", str(config), "--workers", str(workers), *(extra_args or [])]
    with start_gateway(args, work / f"{name}.log", env=env) as gateway:
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=HEADERS).status_code == 200
        yield gateway


class _OtlpSink:
    """Accepts OTLP/HTTP exports and throws them away, counting spans' bytes (a local Jaeger stand-in)."""

    def __init__(self) -> None:
        sink = self
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.bytes += len(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextlib.contextmanager
def _litellm(work: Path, upstream: str, master_key: str) -> Iterator[str | None]:
    """LiteLLM's proxy with one worker in front of the same upstream, when make bench-compare installed it."""
    binary = ROOT / ".venv-litellm" / "bin" / "litellm"
    if not binary.exists():
        yield None
        return
    config = work / "litellm.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "auto",
                        "litellm_params": {"model": f"openai/{MODEL}", "api_base": upstream, "api_key": "unused"},
                    }
                ]
            }
        )
    )
    port = free_port()
    log = (work / "litellm.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1", "--host", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": master_key},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answering(url, BODY, {"authorization": f"Bearer {master_key}"}, process, 120, "LiteLLM (see litellm.log)")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _wait_answering(
    url: str, body: dict[str, Any], headers: dict[str, str], process: subprocess.Popen[bytes], seconds: float, name: str
) -> None:
    """Poll a chat completion at `url` until it answers 200; fail if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=5).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.2)


@contextlib.contextmanager
def _hop_proxy(work: Path, upstream: str) -> Iterator[str]:
    """bench/hop_proxy.py in front of `upstream`: the floor that any proxy pays."""
    port = free_port()
    log = (work / f"hop-{port}.log").open("wb")
    command = [sys.executable, str(ROOT / "bench" / "hop_proxy.py"), str(port), upstream]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answering(url, {**BODY, "model": MODEL}, {}, process, 20, "the one-hop proxy")
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process and, when it has worker children, the largest of them."""
    best = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    for proc in pids:
        with contextlib.suppress(OSError):
            match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{proc}/status").read_text())
            if match:
                best = max(best, int(match.group(1)) / 1024)
    return best


# ---------------------------------------------------------------- measurements


def _pair(direct: dict[str, float], through: dict[str, float]) -> dict[str, float]:
    return {
        "added_p50_ms": round(through["p50"] - direct["p50"], 3),
        "added_p99_ms": round(through["p99"] - direct["p99"], 3),
    }


async def _ttfb(url: str, body: dict[str, Any], headers: dict[str, str], count: int) -> list[float]:
    timings = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as response:
                await response.content.readany()
                timings.append((time.perf_counter() - started) * 1000)
                await response.read()
    return timings


def _stream_ttfb(sim: SimProcess, gateway: GatewayProcess, hop: str, count: int) -> dict[str, Any]:
    """First-byte times of sequential streams: direct, one bare hop, TierGate, interleaved in rounds.

    Rounds (rather than all of one target, then the next) keep slow drifts of the machine from
    landing on one target only.
    """
    body = {**BODY, "stream": True, "max_tokens": 64}
    targets = {
        "direct": (f"{sim.base_url}/chat/completions", {**body, "model": MODEL}, {}),
        "hop": (f"{hop}/v1/chat/completions", {**body, "model": MODEL}, {}),
        "tiergate": (f"{gateway.base_url}/chat/completions", body, HEADERS),
    }
    timings: dict[str, list[float]] = {name: [] for name in targets}
    rounds = 3
    for _ in range(rounds):
        for name, (url, payload, headers) in targets.items():
            timings[name] += asyncio.run(_ttfb(url, payload, headers, max(2, count // rounds)))
    result: dict[str, Any] = {name: _percentiles(values) for name, values in timings.items()}
    result["added_p50_ms"] = round(result["tiergate"]["p50"] - result["direct"]["p50"], 3)
    result["hop_added_p50_ms"] = round(result["hop"]["p50"] - result["direct"]["p50"], 3)
    return result


def _percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100)
    return {"p50": round(cuts[49], 3), "p99": round(cuts[98], 3), "max": round(max(values), 3)}


def _memory(gateway: GatewayProcess, script: Path, total: int) -> dict[str, float]:
    """Drive `total` requests through the gateway in short wrk rounds; RSS after half and after all.

    Rounds of 2 s (about 10,000 requests here) keep the two readings close to half and to `total`.
    """
    done, half_rss, half_at = 0.0, 0.0, 0.0
    while done < total:
        done += run_wrk(gateway.url, script, 32, 2)["requests"]
        if not half_rss and done >= total / 2:
            half_rss, half_at = _rss_mb(gateway.process.pid), done
    return {
        "requests": done,
        "requests_at_half": half_at,
        "rss_mb_at_half": round(half_rss, 1),
        "rss_mb_at_end": round(_rss_mb(gateway.process.pid), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument("--stream-requests", type=int, default=300)
    parser.add_argument("--memory-requests", type=int, default=100_000, help="0 skips the memory row")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("gateway_bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tiergate-bench-") as tmp:
        work = Path(tmp)
        sim = start_sim(["--model", MODEL, "--served-model-name", MODEL, "auto", "--output-tokens", "8"])
        stream_sim = start_sim(["--model", MODEL, "--output-tokens", "64", "--tokens-per-second", "200"])
        try:
            report = _suite(args, work, sim, stream_sim)
        finally:
            sim.stop()
            stream_sim.stop()
    report["seconds"] = round(time.monotonic() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    _print(report)
    print(f"JSON: {args.output}")
    return 0


def _suite(args: argparse.Namespace, work: Path, sim: SimProcess, stream_sim: SimProcess) -> dict[str, Any]:
    direct_script = work / "direct.lua"
    direct_script.write_text(_lua({**BODY, "model": MODEL}, {}))
    gateway_script = work / "gateway.lua"
    gateway_script.write_text(_lua(BODY, HEADERS))
    task_script = work / "task-header.lua"
    task_script.write_text(_lua(BODY, TASK_HEADER))
    master_key = f"sk-bench-{secrets.token_hex(16)}"  # LiteLLM refuses to start without one
    plain_script = work / "plain.lua"  # what LiteLLM gets: the same body, model "auto"
    plain_script.write_text(_lua(BODY, {"Authorization": f"Bearer {master_key}"}))
    rows: list[dict[str, Any]] = []

    def measure(name: str, url: str, script: Path, connections: int) -> dict[str, float]:
        run_wrk(url, script, connections, args.warmup)
        result = run_wrk(url, script, connections, args.duration)
        rows.append({"row": name, "concurrency": connections, **result})
        return result

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": _load()},
        "duration_s": args.duration,
        "upstream": "tiergate sim, zero delays",
        "rows": rows,
        "added": {},
    }
    directs: dict[int, dict[str, float]] = {}
    with _gateway(work, "one", sim.base_url) as gateway:
        for connections in (1, 32):
            direct = directs[connections] = measure("direct", sim.url, direct_script, connections)
            through = measure("tiergate 1 worker", gateway.url, gateway_script, connections)
            report["added"][f"c{connections}"] = _pair(direct, through)
        report["gateway_rss_mb"] = round(_rss_mb(gateway.process.pid), 1)
        if args.memory_requests:
            report["memory"] = _memory(gateway, gateway_script, args.memory_requests)
    with _gateway(work, "lean", sim.base_url, extra_args=LEAN_LOGS) as gateway:
        for connections in (1, 32):
            lean = measure("tiergate task header, logs warning", gateway.url, task_script, connections)
            report["added"][f"c{connections} task header, logs warning"] = _pair(directs[connections], lean)
    with _gateway(work, "quiet", sim.base_url, env={"TIERGATE_ACCESS_LOG": "false"}) as gateway:
        measure("tiergate access log off", gateway.url, gateway_script, 32)
    with _hop_proxy(work, sim.base_url) as hop:
        report["hop_added_c1"] = _pair(directs[1], measure("one-hop proxy (reference)", hop, gateway_script, 1))
    with _gateway(work, "two", sim.base_url, workers=2) as gateway:
        measure("tiergate 2 workers", gateway.url, gateway_script, 32)
    sink = _OtlpSink()
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": "always_on"}
    with _gateway(work, "traced", sim.base_url, env=tracing) as gateway:
        measure("tiergate tracing 100%", gateway.url, gateway_script, 32)
    report["otlp_bytes_exported"] = sink.bytes
    sink.server.shutdown()
    with _litellm(work, sim.base_url, master_key) as litellm:
        if litellm is not None:
            for connections in (1, 32):
                measure("litellm 1 worker", litellm, plain_script, connections)
    with _gateway(work, "stream", stream_sim.base_url) as gateway, _hop_proxy(work, stream_sim.base_url) as hop:
        report["stream_ttfb_ms"] = _stream_ttfb(stream_sim, gateway, hop, args.stream_requests)
    report["machine"]["load_after"] = _load()
    return report


def _print(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(
        f"gateway benchmark: {machine['cpus']} cores, load {machine['load_before']} -> {machine['load_after']}, "
        f"{report['duration_s']:g}s per run, upstream: {report['upstream']}"
    )
    print(f"{'row':<24} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    for row in report["rows"]:
        print(
            f"{row['row']:<24} {row['concurrency']:>4} {row['rps']:>9.0f} {row['p50']:>8.2f} {row['p99']:>8.2f} "
            f"{row['max']:>8.2f} {row['errors']:>6.0f}"
        )
    for label, added in report["added"].items():
        print(
            f"added by the gateway at {label}: p50 {added['added_p50_ms']:.2f} ms, p99 {added['added_p99_ms']:.2f} ms"
        )
    hop = report["hop_added_c1"]
    print(f"added by a bare one-hop proxy at c1: p50 {hop['added_p50_ms']:.2f} ms, p99 {hop['added_p99_ms']:.2f} ms")
    ttfb = report["stream_ttfb_ms"]
    print(
        f"stream first byte: direct p50 {ttfb['direct']['p50']:.2f} ms, through TierGate p50 "
        f"{ttfb['tiergate']['p50']:.2f} ms (added {ttfb['added_p50_ms']:.2f} ms; p99 {ttfb['tiergate']['p99']:.2f}); "
        f"through a bare one-hop proxy p50 {ttfb['hop']['p50']:.2f} ms (added {ttfb['hop_added_p50_ms']:.2f} ms)"
    )
    print(f"gateway RSS after the runs: {report['gateway_rss_mb']} MB")
    if "memory" in report:
        memory = report["memory"]
        print(
            f"memory: RSS {memory['rss_mb_at_half']} MB after {memory['requests_at_half']:,.0f} requests, "
            f"{memory['rss_mb_at_end']} MB after {memory['requests']:,.0f}"
        )
    litellm = [r for r in report["rows"] if r["row"].startswith("litellm") and r["concurrency"] == 32]
    ours = [r for r in report["rows"] if r["row"] == "tiergate 1 worker" and r["concurrency"] == 32]
    if litellm and ours:
        print(f"TierGate / LiteLLM at concurrency 32: {ours[0]['rps'] / litellm[0]['rps']:.1f}x")


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
