"""End to end on kind with KEDA and Prometheus (`make kind-autoscaling`): a tier scales to zero, its requests fall
back while it is cold, and it serves again once it has woken up.

The tiers of this module, in the suite's namespace:

- `e2e-cold`: autoscaled (minReplicas 0, maxReplicas 2, idle for 30 s before zero), a `tiergate sim` pod on the
  gpu-small pool; the smallest capable tier, so the Capability strategy tries it first;
- `e2e-warm`: one `tiergate sim` pod on the gpu-large pool, always up: where requests go while `e2e-cold` is cold;
- a RoutingPolicy `e2e-cold` over the two.

Without KEDA in the cluster the tier never goes to zero (Autoscaling=False, KEDANotInstalled): the test says so and
skips. Run it with the chart pointed at KEDA and Prometheus:
`make kind-up kind-load kind-autoscaling`, then
`make kind-e2e KIND_EXTRA_VALUES=charts/tiergate/ci/kind-autoscaling-values.yaml`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from e2e_objects import GROUP, VERSION, sim_image, sim_tier, wait
from e2e_settings import E2ESettings

from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER

pytestmark = pytest.mark.e2e

ALIAS = "e2e-cold"
COLD, WARM = "e2e-cold", "e2e-warm"
IDLE_SECONDS = 30  # the API's smallest idle window: KEDA's cooldown and the demand window
COLD_REASONS = ("ScaledToZero", "Starting")


def _custom(kube: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube)


def _tier(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    return _custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace, "modeltiers", name)


def _condition(tier: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (tier.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def _chat(gateway: httpx.Client) -> httpx.Response:
    return gateway.post("/v1/chat/completions", headers={"x-tiergate-task": "Chat"},
                        json={"model": ALIAS, "messages": [{"role": "user", "content": "Say hello."}],
                              "max_tokens": 8})


@pytest.fixture(scope="module")
def tiers(kube: Any, namespace: str, e2e: E2ESettings) -> str:
    """The cold tier, the warm one and their policy, applied; the warm tier Ready and KEDA in charge of the cold one."""
    image = sim_image(kube, e2e.release_namespace, f"{e2e.fullname}-operator")
    cold = sim_tier(COLD, "0.5B", "gpu-small", image)
    del cold["spec"]["vllm"]["replicas"]
    cold["spec"]["vllm"]["autoscaling"] = {"minReplicas": 0, "maxReplicas": 2, "idleSecondsBeforeZero": IDLE_SECONDS,
                                           "pollingIntervalSeconds": 5}
    policy = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RoutingPolicy", "metadata": {"name": ALIAS},
              "spec": {"modelAlias": ALIAS, "strategy": "Capability", "tiers": [{"name": COLD}, {"name": WARM}],
                       "fallback": {"maxAttempts": 2, "attemptTimeoutSeconds": 15, "requireLocalLast": True}}}
    for plural, body in (("modeltiers", cold), ("modeltiers", sim_tier(WARM, "8B", "gpu-large", image)),
                         ("routingpolicies", policy)):
        _custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    def autoscaling() -> dict[str, Any] | None:
        found = _condition(_tier(kube, namespace, COLD), "Autoscaling")
        return found if found is not None and found["status"] != "Unknown" else None

    decided = wait(f"{COLD}'s Autoscaling condition", autoscaling, timeout=120)
    if decided["reason"] == "KEDANotInstalled":
        pytest.skip("KEDA is not installed in the cluster: run `make kind-autoscaling` first")
    assert decided["status"] == "True", decided  # e.g. False, ScaledObjectCheckFailed: KEDA refused it
    wait(f"{WARM} Ready", lambda: (_condition(_tier(kube, namespace, WARM), "Ready") or {}).get("status") == "True",
         timeout=300)
    return namespace


def test_a_cold_tier_is_routed_around_then_serves_again_once_awake(kube: Any, gateway: httpx.Client,
                                                                  tiers: str) -> None:
    wait("the gateway to know the policy",
         lambda: any(m["id"] == ALIAS for m in gateway.get("/v1/models").json().get("data", [])))

    def at_zero() -> dict[str, Any] | None:
        tier = _tier(kube, tiers, COLD)
        ready = _condition(tier, "Ready") or {}
        return tier if tier["status"].get("scaledToZero") is True and ready.get("reason") == "ScaledToZero" else None

    # Nobody wants it: KEDA takes it to zero after its initial cooldown (idleSecondsBeforeZero).
    cold = wait(f"{COLD} scaled to zero by KEDA", at_zero, timeout=8 * IDLE_SECONDS)
    assert cold["status"]["replicas"] == 0 and cold["status"]["readyReplicas"] == 0

    # The first request falls back at once (Interactive) and says why; it also wakes the tier.
    response = wait("an answer while the tier is cold", lambda: (r := _chat(gateway)).status_code == 200 and r)
    assert response.headers[HEADER_TIER] == WARM
    reason = response.headers[HEADER_FALLBACK_REASON]
    skipped, _, why = reason.split(",")[0].strip().partition("=")
    assert skipped == COLD and why in COLD_REASONS, reason

    # Woken up (by the gateway within a second, or by KEDA on the demand it sees): traffic returns to it.
    def served_by_the_cold_tier() -> httpx.Response | None:
        answer = _chat(gateway)
        return answer if answer.status_code == 200 and answer.headers.get(HEADER_TIER) == COLD else None

    wait(f"{COLD} to serve again", served_by_the_cold_tier, timeout=300)
    tier = _tier(kube, tiers, COLD)
    assert tier["status"]["scaledToZero"] is False and tier["status"]["readyReplicas"] >= 1
    assert (_condition(tier, "Ready") or {}).get("status") == "True"
