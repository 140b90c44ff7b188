"""The gateway tests' tiers, policy and simulator knobs (shared by HTTP and Kubernetes-mode tests).

Three simulated tiers: `remote-a` (1B, Remote, needs an API key), `remote-b` (3B, Remote)
and `local` (8B, Local). With the Capability strategy and a Chat request the plan is
remote-a, remote-b, local.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tiergate_sim.process import SimProcess

TIERS = {"remote-a": ("1B", "Remote"), "remote-b": ("3B", "Remote"), "local": ("8B", "Local")}
API_KEY = "sk-test-remote-a-0123456789abcdefghij"


def tier_document(name: str, url: str, **spec: Any) -> dict[str, Any]:
    size, locality = TIERS.get(name, ("1B", "Remote"))
    endpoint: dict[str, Any] = {"url": url, "locality": locality, "timeoutSeconds": 30}
    if name == "remote-a":
        endpoint["apiKeySecretRef"] = {"name": "provider", "key": "api-key"}
    body = {
        "model": f"org/{name}",
        "size": size,
        "capabilities": {"maxContextTokens": 4096},
        "latency": {"ttftMilliseconds": 5, "tokensPerSecond": 2000},  # what the simulators do, roughly
        "endpoint": endpoint,
    }
    body.update(spec)
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "metadata": {"name": name}, "spec": body}


def policy_document(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelAlias": "auto",
        "strategy": "Capability",
        "tiers": [{"name": n} for n in TIERS],
        "defaultLatencyClass": "Batch",
        "fallback": {"maxAttempts": 3, "attemptTimeoutSeconds": 2},
    }
    body.update(spec)
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "RoutingPolicy", "metadata": {"name": "main"}, "spec": body}


def write_config(
    folder: Path,
    sims: dict[str, SimProcess],
    tier_specs: dict[str, dict[str, Any]] | None = None,
    **policy_spec: Any,
) -> Path:
    """Tiers for the simulators (with extra spec fields per tier), the policy, and the provider key file."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = tier_specs or {}
    tiers = [tier_document(name, process.base_url, **extra.get(name, {})) for name, process in sims.items()]
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy_document(**policy_spec)))
    secret = folder / "secrets" / "provider"
    secret.mkdir(parents=True, exist_ok=True)
    (secret / "api-key").write_text(API_KEY)
    return folder


def set_knobs(process: SimProcess, **knobs: Any) -> None:
    """Change a simulator's behaviour while it runs."""
    process.configure(**knobs)


def stats(process: SimProcess) -> dict[str, Any]:
    """What a simulator has seen."""
    return process.stats()
