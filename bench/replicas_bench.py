"""Replica picking under load: TierGate's picker against round-robin, least-connections and random.

Run: `make bench-replicas` (or `.venv/bin/python bench/replicas_bench.py`). Four `tiergate sim`
replicas of one tier behave like vLLM under load (`--max-num-seqs`, prefix caching with a KV
capacity that holds a few prefixes but not all, prefill time proportional to the prompt tokens
not found in the cache). The same open-loop workload (arrivals on a clock, not closed-loop) goes
through each balancer in turn, with the replicas restarted in between so every balancer starts
from cold caches:

- round-robin, least-connections and random: nginx (`upstream` with no directive, `least_conn`,
  `random`) in front of the four replicas, what a ClusterIP Service or a plain L7 proxy gives;
- TierGate: the gateway in local mode with one tier whose `endpoint.urls` are the replicas.

The workload: 16 shared system prompts of about 2,000 tokens, each followed by a short user turn,
plus 20% requests with a unique long prompt; streams; offered load stepped from 50% to 120% of the
pool's capacity (replicas x max-num-seqs / the service time of a request whose prompt is not
cached; `--kv tight`, the default, sizes the KV cache below max-num-seqs long prompts, `--kv ample`
above). Per step: time to first token p50/p99, end-to-end p99, goodput (requests finished with a
first token within the 2 s objective, per second), failures, and the replicas' prefix-cache hit
rate (from their vLLM metrics). Prints a table and writes bench/results/replicas-<kv>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tiergate_demo.process import free_port, start_gateway
from tiergate_sim.process import SimProcess, start_sim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MODEL = "qwen-sim"
REPLICAS = 4
MAX_NUM_SEQS = 8
PREFILL_TPS = 4000
BLOCK_SIZE = 16
OUTPUT_TOKENS = 24
DECODE_TPS = 60
SYSTEM_TOKENS = 2000
SHARED_PROMPTS = 16
UNIQUE_SHARE = 0.2
TTFT_OBJECTIVE = 2.0
CHARS_PER_TOKEN = 4

WORDS = (
    "account", "balance", "ledger", "invoice", "payment", "refund", "policy", "customer", "order",
    "shipment", "warehouse", "inventory", "forecast", "quarter", "revenue", "margin", "contract",
    "supplier", "schedule", "meeting", "summary", "report", "analysis", "metric", "target", "region",
    "product", "service", "support", "ticket", "escalation",
)


def text_of(tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens of plausible text (4 characters a token, as the gateway and the sim count)."""
    out: list[str] = []
    size = 0
    while size < tokens * CHARS_PER_TOKEN:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


@dataclass
class Workload:
    """The prompts: shared system prompts and unique long ones, drawn in a fixed order (seeded)."""

    seed: int
    shared: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.shared = [f"System prompt {i}. " + text_of(SYSTEM_TOKENS, rng) for i in range(SHARED_PROMPTS)]

    def requests(self, count: int) -> list[dict[str, Any]]:
        rng = random.Random(self.seed + 1)
        bodies = []
        for index in range(count):
            if rng.random() < UNIQUE_SHARE:
                system = f"Unique request {index}. " + text_of(SYSTEM_TOKENS, rng)
            else:
                system = rng.choice(self.shared)
            user = f"Question {index}: " + text_of(12, rng)
            bodies.append(
                {
                    "model": MODEL,
                    "stream": True,
                    "max_tokens": OUTPUT_TOKENS,
                    "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                }
            )
        return bodies


@dataclass
class Outcome:
    ttft: float | None
    total: float | None
    ok: bool


async def one_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST a streaming request on a new connection; time the first content event and the end."""
    started = time.perf_counter()
    ttft: float | None = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return Outcome(None, None, False)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        if b" 200 " not in status_line:
            return Outcome(None, None, False)
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        done = False
        async for line in reader:
            if ttft is None and line.startswith(b"data: {") and b'"content"' in line:
                ttft = time.perf_counter() - started
            if line.startswith(b"data: [DONE]"):
                done = True
                break
        total = time.perf_counter() - started
        return Outcome(ttft, total, done and ttft is not None)
    except (OSError, asyncio.IncompleteReadError):
        return Outcome(ttft, None, False)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@dataclass
class Step:
    load: float
    rate: float
    outcomes: list[Outcome]
    duration: float
    hits: float
    queries: float

    def summary(self) -> dict[str, Any]:
        ttfts = sorted(o.ttft for o in self.outcomes if o.ok and o.ttft is not None)
        totals = sorted(o.total for o in self.outcomes if o.ok and o.total is not None)
        good = sum(1 for o in self.outcomes if o.ok and o.ttft is not None and o.ttft <= TTFT_OBJECTIVE)
        return {
            "load": self.load,
            "offered_rps": round(self.rate, 2),
            "requests": len(self.outcomes),
            "failed": sum(1 for o in self.outcomes if not o.ok),
            "ttft_p50_s": round(_percentile(ttfts, 50), 3),
            "ttft_p99_s": round(_percentile(ttfts, 99), 3),
            "e2e_p99_s": round(_percentile(totals, 99), 3),
            "goodput_rps": round(good / self.duration, 2),
            "prefix_hit_rate": round(self.hits / self.queries, 3) if self.queries else None,
        }


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p / 100))]


async def run_step(
    target: tuple[str, int, str, dict[str, str]], bodies: list[bytes], rate: float, seconds: float, seed: int
) -> tuple[list[Outcome], float]:
    """Open loop: Poisson arrivals at `rate` for `seconds`, each request on its own task."""
    host, port, path, headers = target
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Outcome]] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    next_at = started
    index = 0
    while next_at - started < seconds:
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_request(host, port, path, bodies[index % len(bodies)], headers)))
        index += 1
        next_at += rng.expovariate(rate)
    outcomes = await asyncio.gather(*tasks)
    return list(outcomes), seconds


def kv_blocks(prompts: float) -> int:
    """KV-cache blocks for this many long prompts with their answers."""
    return int((SYSTEM_TOKENS + 40 + OUTPUT_TOKENS) / BLOCK_SIZE * prompts)


KV_PROMPTS = {"tight": 6.0, "ample": MAX_NUM_SEQS + 4.0}
"""KV capacity per replica, in long prompts: `tight` holds fewer than max-num-seqs (the cache is what
limits concurrency, as on a GPU serving long prompts), `ample` holds every running sequence plus about
four cached prompts. Either way a replica keeps a few of the 16 shared prefixes, not all."""


def sim_args(kv: str) -> list[str]:
    return [
        "--model", MODEL,
        "--max-num-seqs", str(MAX_NUM_SEQS),
        "--enable-prefix-caching",
        "--block-size", str(BLOCK_SIZE),
        "--num-gpu-blocks-override", str(kv_blocks(KV_PROMPTS[kv])),
        "--prefill-tokens-per-second", str(PREFILL_TPS),
        "--tokens-per-second", str(DECODE_TPS),
        "--output-tokens", str(OUTPUT_TOKENS),
        "--ttft-ms", "0",
    ]  # fmt: skip


@contextlib.contextmanager
def replicas(kv: str) -> Iterator[list[SimProcess]]:
    sims = [start_sim(sim_args(kv), stderr=subprocess.DEVNULL) for _ in range(REPLICAS)]
    try:
        yield sims
    finally:
        for sim in sims:
            sim.stop()


def prefix_counters(sims: list[SimProcess]) -> tuple[float, float]:
    """Summed prefix-cache hits and queries (tokens) over the replicas' vLLM metrics."""
    hits = queries = 0.0
    for sim in sims:
        page = httpx.get(sim.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
        for line in page.splitlines():
            if line.startswith("vllm:prefix_cache_hits"):
                hits += float(line.rsplit(" ", 1)[1])
            elif line.startswith("vllm:prefix_cache_queries"):
                queries += float(line.rsplit(" ", 1)[1])
    return hits, queries


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  client_max_body_size 10m;
  upstream pool {{
    {method}
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(method: str, sims: list[SimProcess], work: Path) -> Iterator[int]:
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"    server {httpx.URL(s.base_url).host}:{httpx.URL(s.base_url).port};" for s in sims)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, method=method, servers=servers, port=port))
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def tiergate(sims: list[SimProcess], work: Path) -> Iterator[int]:
    config = work / "config"
    config.mkdir(parents=True, exist_ok=True)
    tier = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": "pool", "namespace": "default"},
        "spec": {
            "model": MODEL,
            "size": "7B",
            "endpoint": {"urls": [s.base_url for s in sims], "locality": "Local", "timeoutSeconds": 120},
        },
    }
    policy = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "pool", "namespace": "default"},
        "spec": {"modelAlias": MODEL, "strategy": "Capability", "tiers": [{"name": "pool"}],
                 "fallback": {"attemptTimeoutSeconds": 120}},
    }  # fmt: skip
    (config / "pool.yaml").write_text(json.dumps(tier) + "\n---\n" + json.dumps(policy))
    with start_gateway(["--config-dir", str(config)], work / "gateway.log") as gateway:
        yield gateway.port


def capacity(kv: str) -> float:
    """Requests per second the pool serves when no prompt is cached: the sequences that fit at once
    (max-num-seqs, or fewer when the KV cache holds fewer long prompts) over a request's service time."""
    prompt_tokens = SYSTEM_TOKENS + 20
    service = prompt_tokens / PREFILL_TPS + OUTPUT_TOKENS / DECODE_TPS
    concurrent = min(MAX_NUM_SEQS, int(KV_PROMPTS[kv]))
    return REPLICAS * concurrent / service


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load step")
    parser.add_argument("--loads", default="0.5,0.8,1.0,1.2,1.5,2.0", help="offered load steps, as shares of capacity")
    parser.add_argument("--balancers", default="round-robin,least-connections,random,tiergate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kv", choices=sorted(KV_PROMPTS), default="tight", help="KV capacity per replica")
    parser.add_argument("--output", type=Path, help="where the JSON goes (default bench/results/replicas-<kv>.json)")
    args = parser.parse_args()
    if shutil.which("nginx") is None and args.balancers != "tiergate":
        print("nginx is needed for the baselines (apt-get install nginx-light)", file=sys.stderr)
        return 1
    loads = [float(x) for x in args.loads.split(",")]
    cap = capacity(args.kv)
    workload = Workload(args.seed)
    bodies = [orjson.dumps(b) for b in workload.requests(4000)]
    results: dict[str, list[dict[str, Any]]] = {}
    methods = {"round-robin": "", "least-connections": "least_conn;", "random": "random;"}
    with tempfile.TemporaryDirectory(prefix="tiergate-replicas-") as tmp:
        for balancer in args.balancers.split(","):
            rows: list[dict[str, Any]] = []
            for step_index, load in enumerate(loads):
                with replicas(args.kv) as sims:  # cold caches for every balancer and step
                    work = Path(tmp) / f"{balancer}-{step_index}"
                    front = tiergate(sims, work) if balancer == "tiergate" else nginx(methods[balancer], sims, work)
                    with front as port:
                        path = "/v1/chat/completions"
                        asyncio.run(run_step(("127.0.0.1", port, path, {}), bodies[:8], 4.0, 1.0, 1))  # warm-up
                        before = prefix_counters(sims)
                        target = ("127.0.0.1", port, path, {})
                        seed = args.seed + step_index
                        outcomes, duration = asyncio.run(run_step(target, bodies, load * cap, args.seconds, seed))
                        after = prefix_counters(sims)
                step = Step(load, load * cap, outcomes, duration, after[0] - before[0], after[1] - before[1])
                rows.append(step.summary())
                print(balancer, json.dumps(rows[-1]), flush=True)
            results[balancer] = rows
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "setup": {"replicas": REPLICAS, "max_num_seqs": MAX_NUM_SEQS, "prefill_tps": PREFILL_TPS,
                  "decode_tps": DECODE_TPS, "output_tokens": OUTPUT_TOKENS, "system_tokens": SYSTEM_TOKENS,
                  "shared_prompts": SHARED_PROMPTS, "unique_share": UNIQUE_SHARE, "capacity_rps": round(cap, 2),
                  "kv": args.kv, "kv_blocks_per_replica": kv_blocks(KV_PROMPTS[args.kv]),
                  "seconds_per_step": args.seconds, "ttft_objective_s": TTFT_OBJECTIVE},
        "results": results,
    }  # fmt: skip
    output = args.output or RESULTS / f"replicas-{args.kv}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    print(f"\ncapacity (no cache) {report['setup']['capacity_rps']} req/s; TTFT objective {TTFT_OBJECTIVE} s")
    print(f"{'balancer':<18}{'load':>6}{'rps':>7}{'ttft p50':>10}{'ttft p99':>10}{'e2e p99':>9}"
          f"{'goodput':>9}{'failed':>8}{'hit rate':>10}")  # fmt: skip
    for balancer, rows in report["results"].items():
        for row in rows:
            print(
                f"{balancer:<18}{row['load']:>6.0%}{row['offered_rps']:>7.1f}{row['ttft_p50_s']:>10.3f}"
                f"{row['ttft_p99_s']:>10.3f}{row['e2e_p99_s']:>9.3f}{row['goodput_rps']:>9.2f}"
                f"{row['failed']:>8}{(row['prefix_hit_rate'] or 0):>10.1%}"
            )


if __name__ == "__main__":
    sys.exit(main())
