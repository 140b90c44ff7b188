"""A small config folder with hand-checkable prices, and helpers to write logs, for replay tests.

Tiers (USD per million tokens, input/output; priors):
- `small`: 1B, Chat and Classification only, 1.00/2.00, TTFT 50 ms at 100 tokens/s, 1,000-token window;
- `big`: 70B, every task, 10.00/20.00, TTFT 400 ms at 50 tokens/s, Local.
Policy `auto` (Capability, Batch) routes over both; `tight` (Capability) has only `big` and a
daily limit of $0.001 that it rejects past.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import yaml


def _tier(name: str, size: str, price: tuple[str, str], ttft: int, tps: int, **caps: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": f"org/{name}",
            "size": size,
            "capabilities": caps,
            "cost": {"inputPerMillionTokens": price[0], "outputPerMillionTokens": price[1]},
            "latency": {"ttftMilliseconds": ttft, "tokensPerSecond": tps},
            "endpoint": {"url": f"http://127.0.0.1:9/{name}", "locality": "Local" if name == "big" else "Remote"},
        },
    }


def _policy(name: str, tiers: list[str], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelAlias": name,
        "strategy": "Capability",
        "tiers": [{"name": t} for t in tiers],
        "defaultLatencyClass": "Batch",
    }
    body.update(spec)
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "RoutingPolicy", "metadata": {"name": name}, "spec": body}


def write_replay_config(folder: Path) -> Path:
    """The two tiers and the two policies above."""
    folder.mkdir(parents=True, exist_ok=True)
    tiers = [
        _tier("small", "1B", ("1.00", "2.00"), 50, 100, tasks=["Chat", "Classification"], maxContextTokens=1000),
        _tier("big", "70B", ("10.00", "20.00"), 400, 50),
    ]
    policies = [
        _policy("auto", ["small", "big"]),
        _policy("tight", ["big"], budget={"dailyLimit": "0.001", "onExceeded": "Reject"}),
    ]
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    (folder / "policies.yaml").write_text(yaml.safe_dump_all(policies))
    return folder


def write_log(path: Path, lines: list[Any], *, compress: bool = False) -> Path:
    """A JSON Lines log; items that are bytes are written as they are (bad lines)."""
    data = b"".join((item if isinstance(item, bytes) else orjson.dumps(item)) + b"\n" for item in lines)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def chat(text: str, **body: Any) -> dict[str, Any]:
    """An OpenAI chat request body."""
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **body}
