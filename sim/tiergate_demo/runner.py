"""Run the demo: start simulated tiers and the gateway, send the workload, print where it went.

Everything runs on loopback: one `tiergate sim` per tier of `examples/local` (latency
taken from the tier's priors, sped up), the gateway reading a copy of that folder with the
simulators' real addresses, and part-way through the external tier starts answering 429,
so the fallback chain shows. The table compares the spend with sending every request to the
largest tier.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from tiergate_api.modeltier import ModelTier
from tiergate_api.resources import parse_resource
from tiergate_api.yamlio import dump_yaml, load_documents
from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_demo.workload import WORKLOAD, DemoRequest
from tiergate_sim.process import SimProcess, start_sim

SPEED_UP = 8
"""The simulators run this many times faster than the tiers' latency priors, to keep the demo short."""
FAIL_AFTER = 4
"""The external tier starts rate-limiting after this many requests of the workload."""


@dataclass
class Row:
    """One line of the result table."""

    label: str
    task: str
    tier: str
    attempts: str
    latency_ms: float
    cost: Decimal
    baseline: Decimal
    reason: str


def find_examples() -> Path:
    """examples/local of the source tree (the demo runs from a clone)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples" / "local"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("examples/local not found; run the demo from a TierGate clone")


def _tiers(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for document in load_documents(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "ModelTier":
                found.append((path, document))
    return found


@contextlib.contextmanager
def demo_environment(
    examples: Path, work: Path, decision_log: Path | None = None
) -> Iterator[tuple[GatewayProcess, dict[str, SimProcess], dict[str, ModelTier]]]:
    """Simulators for every tier, a config copy pointing at them, and a gateway over it."""
    sims: dict[str, SimProcess] = {}
    tiers: dict[str, ModelTier] = {}
    try:
        config = work / "config"
        config.mkdir()
        parsed = []
        for _, document in _tiers(examples):
            tier = parse_resource(document)
            assert isinstance(tier, ModelTier)
            parsed.append((document, tier))
        with ThreadPoolExecutor(max_workers=len(parsed) or 1) as pool:  # start-up is mostly imports: overlap it
            started = list(pool.map(lambda pair: _start_tier_sim(pair[1]), parsed))
        documents = []
        for (document, tier), sim in zip(parsed, started, strict=True):
            sims[tier.metadata.name] = sim
            tiers[tier.metadata.name] = tier
            spec: dict[str, Any] = dict(document["spec"])
            spec["endpoint"] = {**spec["endpoint"], "url": sim.base_url}
            documents.append({**document, "spec": spec})
        (config / "tiers.yaml").write_text("---\n".join(dump_yaml(d) for d in documents))
        for path in examples.glob("*.yaml"):
            if path.name != "tiers.yaml":
                (config / path.name).write_text(path.read_text())
        # The demo's prompts are made up, so its decision log keeps them: the replay then classifies them again.
        env = (
            {"TIERGATE_DECISION_LOG": str(decision_log), "TIERGATE_DECISION_LOG_CONTENT": "true"}
            if decision_log
            else {}
        )
        args = ["--config-dir", str(config), "--log-level", "warning"]
        with start_gateway(args, work / "gateway.log", env=env) as gateway:
            yield gateway, sims, tiers
    finally:
        for sim in sims.values():
            sim.stop()


def _start_tier_sim(tier: ModelTier) -> SimProcess:
    """A simulator that answers like the tier's priors say, SPEED_UP times faster."""
    priors = tier.spec.latency
    ttft = (priors.ttft_milliseconds or 50) / SPEED_UP if priors else 10
    speed = (priors.tokens_per_second or 100) * SPEED_UP if priors else 400
    return start_sim(
        [
            "--model",
            tier.spec.model,
            "--ttft-ms",
            str(ttft),
            "--tokens-per-second",
            str(speed),
            "--output-tokens",
            "400",
            "--retry-after-seconds",
            "60",
        ]
    )


def _cost(tier: ModelTier, prompt: int, completion: int) -> Decimal:
    million = Decimal(1_000_000)
    return (prompt * tier.spec.cost.input_price + completion * tier.spec.cost.output_price) / million


def _send(client: httpx.Client, request: DemoRequest) -> tuple[httpx.Response, tuple[int, int], float]:
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
    }
    started = time.perf_counter()
    if not request.stream:
        response = client.post("/v1/chat/completions", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        usage = response.json().get("usage", {}) if response.status_code == 200 else {}
        return response, (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)), elapsed
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    streamed_usage: dict[str, int] = {}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"usage":{' in line.replace(" ", ""):
                streamed_usage = orjson.loads(line[6:]).get("usage") or streamed_usage
    elapsed = (time.perf_counter() - started) * 1000
    counts = (streamed_usage.get("prompt_tokens", 0), streamed_usage.get("completion_tokens", 0))
    return response, counts, elapsed


def run_workload(gateway: GatewayProcess, sims: dict[str, SimProcess], tiers: dict[str, ModelTier]) -> list[Row]:
    """Send every request of the workload; the external tier starts failing part-way."""
    largest = max(tiers.values(), key=lambda t: t.spec.parameters)
    external = next(
        (name for name, t in tiers.items() if t.spec.endpoint and t.spec.endpoint.locality == "Remote"), None
    )
    rows = []
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        for index, request in enumerate(WORKLOAD):
            if index == FAIL_AFTER and external:
                sims[external].configure(rate_limit_rate=1.0)
            response, (prompt, completion), elapsed = _send(client, request)
            tier_name = response.headers.get("x-tiergate-tier", "-")
            tier = tiers.get(tier_name)
            cost = _cost(tier, prompt, completion) if tier else Decimal(0)
            rows.append(
                Row(
                    request.label + (" (stream)" if request.stream else ""),
                    response.headers.get("x-tiergate-task", "-"),
                    tier_name if response.status_code == 200 else f"HTTP {response.status_code}",
                    response.headers.get("x-tiergate-attempts", "-"),
                    elapsed,
                    cost,
                    _cost(largest, prompt, completion),
                    response.headers.get("x-tiergate-fallback-reason", ""),
                )
            )
    return rows


def format_table(rows: list[Row], largest: str) -> str:
    """The result table and the comparison with the largest tier."""
    header = f"{'request':<18} {'task':<16} {'tier':<16} {'tries':>5} {'latency':>9} {'cost USD':>12}  fallback reason"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.label:<18} {row.task:<16} {row.tier:<16} {row.attempts:>5} {row.latency_ms:>7.0f}ms "
            f"{row.cost:>12.8f}  {row.reason}"
        )
    total = sum((r.cost for r in rows), Decimal(0))
    baseline = sum((r.baseline for r in rows), Decimal(0))
    saved = (1 - total / baseline) * 100 if baseline else Decimal(0)
    lines += [
        "-" * len(header),
        f"total cost with TierGate:          ${total:.8f}",
        f"same requests all on {largest + ':':<12} ${baseline:.8f}",
        f"saved: {saved:.1f}%   failed requests: {sum(1 for r in rows if r.tier.startswith('HTTP'))}",
    ]
    return "\n".join(lines)


def main(output: Path = Path("demo-output")) -> int:
    """Run the whole demo, print the table, then replay its decision log through every policy."""
    examples = find_examples()
    output.mkdir(parents=True, exist_ok=True)
    decision_log = output / "decisions.jsonl"
    decision_log.unlink(missing_ok=True)  # this run's decisions only
    print(f"TierGate demo: simulated tiers from {examples}, gateway in local mode, {len(WORKLOAD)} requests")
    with tempfile.TemporaryDirectory(prefix="tiergate-demo-") as tmp:
        with demo_environment(examples, Path(tmp), decision_log) as env:
            gateway, sims, tiers = env
            names = ", ".join(f"{n} ({t.spec.size})" for n, t in tiers.items())
            print(f"gateway ready at {gateway.url}; tiers: {names}")
            external = [n for n, t in tiers.items() if t.spec.endpoint and t.spec.endpoint.locality == "Remote"]
            print(f"after request {FAIL_AFTER} the external tier ({', '.join(external)}) starts answering 429\n")
            rows = run_workload(gateway, sims, tiers)
            largest = max(tiers.values(), key=lambda t: t.spec.parameters).metadata.name
            print(format_table(rows, largest))
        # The gateway has stopped, so its decision log is complete: what would the other policies have done?
        print(f"\n$ {' '.join(replay_command(decision_log, examples, output))}")
        replayed = tiergate(replay_command(decision_log, examples, output)[1:])
    failed = any(r.tier.startswith("HTTP") for r in rows)
    return 1 if failed or replayed != 0 else 0


def replay_command(decision_log: Path, examples: Path, output: Path) -> list[str]:
    """`tiergate replay` of the demo's decision log, as a person would type it."""
    with contextlib.suppress(ValueError):  # examples/local rather than /home/.../examples/local when run there
        examples = examples.relative_to(Path.cwd())
    return [
        "tiergate",
        "replay",
        str(decision_log),
        "--config-dir",
        str(examples),
        "--json",
        str(output / "replay.json"),
        "--report",
        str(output / "report.html"),
    ]


def tiergate(args: list[str]) -> int:
    """Run a `tiergate` subcommand in this process."""
    from tiergate_cli.main import main as tiergate_main

    return tiergate_main(args)
