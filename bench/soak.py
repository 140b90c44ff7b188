"""Fault-injection soak: thousands of requests through the gateway while its tiers misbehave.

Three simulated tiers: the primary fails about 30% of calls (500s, 429s with Retry-After,
hangs that time out, and streams cut mid-way), the second is down half the time (its
process is stopped and started every few seconds: connection refused), and a healthy
Local tier ends every plan. Bounded in count and time; loopback only.

Run: `make soak` or `.venv/bin/python bench/soak.py --requests 5000`.
Reports success rates (non-stream requests; streams whose failure came before the first
byte; streams cut after it), latency percentiles, how often each fallback reason fired,
and the gateway's peak memory; writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tiergate_demo.process import free_port, start_gateway
from tiergate_sim.process import SimProcess, start_sim

ROOT = Path(__file__).resolve().parent.parent
PRIMARY_FAULTS = {"error_rate": 0.12, "rate_limit_rate": 0.08, "hang_rate": 0.05, "drop_stream_rate": 0.05}


def _tier(name: str, url: str, size: str, locality: str) -> dict[str, Any]:
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": f"soak/{name}",
            "size": size,
            "latency": {"ttftMilliseconds": 5, "tokensPerSecond": 2000},
            "endpoint": {"url": url, "locality": locality, "timeoutSeconds": 10},
        },
    }


class Flapper(threading.Thread):
    """Stops and restarts the second tier's simulator on the same port: down half the time."""

    def __init__(self, port: int, period: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.period = period
        self.stopped = threading.Event()
        self.sim: SimProcess | None = self._start()

    def _start(self) -> SimProcess:
        return start_sim(["--model", "soak/second", "--port", str(self.port), "--output-tokens", "12"])

    def run(self) -> None:
        while not self.stopped.wait(self.period):
            if self.sim is not None:
                self.sim.stop()
                self.sim = None
            else:
                self.sim = self._start()

    def close(self) -> None:
        self.stopped.set()
        self.join(10)
        if self.sim is not None:
            self.sim.stop()


async def _one(session: aiohttp.ClientSession, url: str, stream: bool, record: dict[str, Any]) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 12, "stream": stream}
    started = time.perf_counter()
    outcome = "ok"
    try:
        async with session.post(url, json=body, headers={"x-tiergate-task": "Chat"}) as response:
            data = await response.read()
            reasons = response.headers.get("x-tiergate-fallback-reason", "")
            if response.status != 200:
                outcome = f"http_{response.status}"
            elif stream and (b'"error"' in data or not data.endswith(b"data: [DONE]\n\n")):
                outcome = "stream_cut_after_first_byte"
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome = f"client_error_{type(exc).__name__}"
        reasons = ""
    record["latencies"].append((time.perf_counter() - started) * 1000)
    record["outcomes"][("stream" if stream else "plain", outcome)] += 1
    for item in filter(None, (r.strip() for r in reasons.split(";"))):
        record["reasons"][item.split("=")[-1]] += 1


async def _load(
    url: str, total: int, concurrency: int, stream_share: float, deadline: float, rate: float
) -> dict[str, Any]:
    record: dict[str, Any] = {"latencies": [], "outcomes": collections.Counter(), "reasons": collections.Counter()}
    counter = iter(range(total))
    timeout = aiohttp.ClientTimeout(total=60)

    begin = time.monotonic()

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in counter:
            due = begin + index / rate  # an open-loop pace, so the flapping tier goes up and down many times
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            if time.monotonic() > deadline:
                return
            await _one(session, url, (index % 100) < stream_share * 100, record)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return record


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream-share", type=float, default=0.2)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--flap-seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests started per second")
    parser.add_argument("--breaker-open-seconds", type=float, default=5.0, help="how long an open circuit stays open")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tiergate-soak-") as tmp:
        work = Path(tmp)
        primary = start_sim(
            ["--model", "soak/primary", "--output-tokens", "12", "--retry-after-seconds", "1", "--seed", "7"]
        )
        primary.configure(**PRIMARY_FAULTS)
        local = start_sim(["--model", "soak/local", "--output-tokens", "12"])
        second_port = free_port()
        flapper = Flapper(second_port, args.flap_seconds)
        try:
            config = work / "config"
            config.mkdir()
            docs = [
                _tier("primary", primary.base_url, "1B", "Remote"),
                _tier("second", f"http://127.0.0.1:{second_port}/v1", "3B", "Remote"),
                _tier("local", local.base_url, "8B", "Local"),
                {
                    "apiVersion": "tiergate.io/v1alpha1",
                    "kind": "RoutingPolicy",
                    "metadata": {"name": "soak"},
                    "spec": {
                        "modelAlias": "auto",
                        "tiers": [{"name": "primary"}, {"name": "second"}, {"name": "local"}],
                        "defaultLatencyClass": "Batch",
                        "fallback": {"maxAttempts": 3, "attemptTimeoutSeconds": 1},
                    },
                },
            ]
            (config / "soak.yaml").write_text(yaml.safe_dump_all(docs))
            with start_gateway(
                ["--config-dir", str(config), "--log-level", "warning"],
                work / "gateway.log",
                env={"TIERGATE_BREAKER_OPEN_SECONDS": str(args.breaker_open_seconds)},
            ) as gateway:
                flapper.start()
                started = time.monotonic()
                record = asyncio.run(
                    _load(
                        f"{gateway.base_url}/chat/completions",
                        args.requests,
                        args.concurrency,
                        args.stream_share,
                        started + args.max_seconds,
                        args.rate,
                    )
                )
                elapsed = time.monotonic() - started
                rss = _peak_rss_mb(gateway.process.pid)
                tracebacks = gateway.logs().count("Traceback")
        finally:
            flapper.close()
            primary.stop()
            local.stop()
    return _report(args, record, elapsed, rss, tracebacks)


def _report(args: argparse.Namespace, record: dict[str, Any], elapsed: float, rss: float, tracebacks: int) -> int:
    outcomes: collections.Counter[tuple[str, str]] = record["outcomes"]
    plain_total = sum(n for (kind, _), n in outcomes.items() if kind == "plain")
    plain_ok = outcomes[("plain", "ok")]
    stream_total = sum(n for (kind, _), n in outcomes.items() if kind == "stream")
    stream_cut = outcomes[("stream", "stream_cut_after_first_byte")]
    stream_ok = outcomes[("stream", "ok")]
    latencies = sorted(record["latencies"])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    report = {
        "requests": len(latencies),
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "plain": {"total": plain_total, "ok": plain_ok, "success_rate": plain_ok / plain_total if plain_total else 0},
        "streams": {
            "total": stream_total,
            "ok": stream_ok,
            "cut_after_first_byte": stream_cut,
            "success_rate_excluding_cuts": stream_ok / (stream_total - stream_cut) if stream_total > stream_cut else 0,
        },
        "other_outcomes": {
            f"{k}:{o}": n for (k, o), n in outcomes.items() if o not in ("ok", "stream_cut_after_first_byte")
        },
        "latency_ms": {"p50": round(quantiles[49], 1), "p99": round(quantiles[98], 1), "max": round(latencies[-1], 1)},
        "fallback_reasons": dict(record["reasons"].most_common()),
        "gateway_peak_rss_mb": round(rss, 1),
        "gateway_tracebacks": tracebacks,
        "faults": {"primary": PRIMARY_FAULTS, "second": f"down {args.flap_seconds:g}s, up {args.flap_seconds:g}s"},
        "breaker_open_seconds": args.breaker_open_seconds,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    perfect = report["plain"]["success_rate"] == 1.0 and report["streams"]["success_rate_excluding_cuts"] == 1.0
    return 0 if perfect else 1


if __name__ == "__main__":
    raise SystemExit(main())
