"""Starting a tier scaled to zero: the gateway scales its Deployment from 0 to 1 itself.

KEDA would start the tier too, once Prometheus has scraped the gateway's demand and KEDA has
polled it: up to a minute. The first request that wants a tier at zero makes the cold-start book
(`runtime/coldstart.py`) call `request`; this writes the Deployment's `/scale` subresource within
milliseconds. From 1 up, KEDA's HPA decides, and KEDA alone takes the tier back to zero.

The write is a compare-and-set: the scale is read, and replaced only if it still says 0, with
the resourceVersion read (a concurrent change, another gateway's or KEDA's, makes it fail with
409 and nothing is overwritten). It never writes a number other than 1, nor over a non-zero one.
The Deployment is named like the tier's Service (the operator names both `<tier>-vllm`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.telemetry import metrics

log = logging.getLogger(__name__)


class DeploymentWaker:
    """Scales cold tiers' Deployments from 0 to 1, one write at a time, off the request path."""

    def __init__(self, apps: Any, cold: ColdStarts) -> None:
        self.apps = apps
        """A kubernetes_asyncio `AppsV1Api`."""
        self.cold = cold
        self._queue: asyncio.Queue[TierView] = asyncio.Queue()
        self._pending: set[str] = set()
        self._refused: set[str] = set()

    def request(self, tier: TierView) -> None:
        """Ask for the tier's start (non-blocking; a tier already queued is not queued twice)."""
        if tier.key not in self._pending:
            self._pending.add(tier.key)
            self._queue.put_nowait(tier)

    async def run(self) -> None:
        """Serve requests until cancelled."""
        while True:
            tier = await self._queue.get()
            try:
                await self.wake(tier)
            finally:
                self._pending.discard(tier.key)

    async def wake(self, tier: TierView) -> str:
        """Scale the tier's Deployment from 0 to 1; the result as counted in `tiergate_tier_wakes_total`."""
        from kubernetes_asyncio.client.exceptions import ApiException

        namespace, _, name = (tier.service or "").partition("/")
        result = "error"
        try:
            scale = await self.apps.read_namespaced_deployment_scale(name, namespace)
            current = scale.spec.replicas or 0
            if current > 0:  # KEDA or another gateway was first
                result = "already_started"
                self.cold.set_desired(tier.key, current, self.cold.clock())
            else:
                scale.spec.replicas = 1
                await self.apps.replace_namespaced_deployment_scale(name, namespace, scale)
                result = "scaled"
                log.info("tier %s is wanted at zero: scaled Deployment %s/%s to 1", tier.key, namespace, name)
        except ApiException as exc:
            # 409: someone changed the scale meanwhile, and their number stands.
            result = {403: "forbidden", 404: "not_found", 409: "conflict"}.get(exc.status, "error")
            if result == "forbidden" and tier.key not in self._refused:
                self._refused.add(tier.key)
                log.warning(
                    "cannot start tier %s: the gateway may not update deployments/scale in namespace %s "
                    "(the chart grants it; requests fall back until KEDA starts the tier)",
                    tier.key,
                    namespace,
                )
            elif result not in ("forbidden", "conflict"):
                log.warning("cannot start tier %s: the API server answered %s", tier.key, exc.status)
        except (OSError, TimeoutError) as exc:
            log.warning("cannot start tier %s: %s", tier.key, type(exc).__name__)
        if result not in ("scaled", "already_started", "conflict"):
            self.cold.wake_failed(tier.key)
        metrics.child(metrics.TIER_WAKES, tier.name, tier.namespace, result).inc()
        return result
