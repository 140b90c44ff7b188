"""Kopf wiring: thin handlers that start workers, keep indexes and ring wake-ups.

Handlers are registered in `registry` (not Kopf's global default), so importing this
module has no side effect on other operators and tests pass the registry explicitly.

- `startup` / `cleanup`: Kopf settings, the API client and the shared `Runtime`.
- `tier_worker`, `policy_worker`: one daemon per object, running `workers.run_worker`.
- indexes: tiers by namespace (what policies read) and tiers by referenced Secret.
- watch handlers: a change to a tier, one of its children or pods, or a referenced
  Secret rings the worker that cares; a change to any tier rings its namespace's policies.
  KEDA's ScaledObjects are children too; where KEDA is not installed, Kopf logs that it
  cannot watch them yet, and starts watching when their CRD appears.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import kopf

from tiergate_api.constants import (
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_TIER,
    MANAGED_BY,
    MODEL_TIER_KIND,
    MODEL_TIER_PLURAL,
    ROUTING_POLICY_KIND,
    ROUTING_POLICY_PLURAL,
    VERSION,
)
from tiergate_operator.errors import ApiError
from tiergate_operator.kube import Kube, connection_info
from tiergate_operator.reconcile import Reconciler
from tiergate_operator.scaling import KEDA_GROUP, KEDA_VERSION, SCALED_OBJECT_PLURAL
from tiergate_operator.settings import OperatorConfig
from tiergate_operator.status import WARNING, tier_view
from tiergate_operator.workers import Runtime, object_state, run_worker

registry = kopf.OperatorRegistry()

FINALIZER: Final = f"{GROUP}/operator"
MANAGED: Final = {LABEL_MANAGED_BY: MANAGED_BY}
# On stop, a worker between passes exits at once; one in the middle of a pass gets a second to
# finish, then is cancelled (a pass holds nothing that the next pass cannot redo).
CANCELLATION_BACKOFF: Final = 1.0
CANCELLATION_TIMEOUT: Final = 10.0


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    """Kopf settings that fit our resources: our finalizer name, no state in `.status`."""
    settings.persistence.finalizer = FINALIZER
    # The CRDs' status schemas are strict; Kopf's own bookkeeping goes to annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.posting.loggers = False  # only our explicit events reach `kubectl describe`
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Read the configuration, connect to the API server and share the runtime with every handler."""
    configure_kopf(settings)
    config = memo.get("config") or OperatorConfig()
    kube = await Kube.connect(kubeconfig=memo.get("kubeconfig"), request_timeout=config.request_timeout_seconds)
    memo["runtime"] = Runtime.create(config, Reconciler(kube, config))
    logger.info(f"TierGate operator started; vLLM image {config.vllm_image}, resync every {config.resync_seconds:g}s.")


@kopf.on.login(registry=registry)
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """Kopf's credentials: the service account in a cluster, else the kubeconfig (`$KUBECONFIG`)."""
    return await connection_info(memo.get("kubeconfig"))


@kopf.on.cleanup(registry=registry)
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Close the API client."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.reconciler.kube.close()


@kopf.on.probe(id="tiers", registry=registry)
def probe_tiers(memo: kopf.Memo, **_: Any) -> int:
    """The liveness endpoint reports how many tiers have a running worker."""
    runtime: Runtime | None = memo.get("runtime")
    return runtime.wakeups.count(MODEL_TIER_KIND) if runtime is not None else 0


def _namespaced(namespace: str | None) -> str:
    """The object's namespace: Kopf's types allow cluster-scoped kinds, but every kind handled here is namespaced."""
    if namespace is None:
        raise kopf.PermanentError("a namespaced object arrived without a namespace")
    return namespace


# ---------------------------------------------------------------- indexes


@kopf.index(GROUP, VERSION, MODEL_TIER_PLURAL, registry=registry)
def tiers_by_namespace(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
    """namespace -> TierView of every tier there (what policies are checked against)."""
    return {_namespaced(namespace): tier_view(body)}


@kopf.index(GROUP, VERSION, MODEL_TIER_PLURAL, registry=registry)
def tiers_by_secret(spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, Secret name) -> names of the tiers that reference that Secret."""
    namespace = _namespaced(namespace)
    refs = [
        (spec.get("vllm") or {}).get("hfTokenSecretRef"),
        (spec.get("endpoint") or {}).get("apiKeySecretRef"),
    ]
    return {(namespace, ref["name"]): name for ref in refs if isinstance(ref, dict) and "name" in ref}


# ---------------------------------------------------------------- workers


@kopf.daemon(
    GROUP,
    VERSION,
    MODEL_TIER_PLURAL,
    registry=registry,
    cancellation_backoff=CANCELLATION_BACKOFF,
    cancellation_timeout=CANCELLATION_TIMEOUT,
)
async def tier_worker(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Keep one tier's Deployment, Service, cache claim and status in line with its spec."""
    namespace = _namespaced(namespace)
    runtime: Runtime = memo["runtime"]
    state = object_state(memo)

    async def step() -> Any:
        return await runtime.reconciler.tier(body, state)

    await run_worker(
        runtime,
        (MODEL_TIER_KIND, namespace, name),
        state,
        step,
        stopped=stopped,
        logger=logger,
        on_failure=lambda exc, attempt: _report_failure(runtime, body, exc, attempt),
    )


@kopf.daemon(  # type: ignore[arg-type]  # Kopf's handler protocols cannot declare index kwargs
    GROUP,
    VERSION,
    ROUTING_POLICY_PLURAL,
    registry=registry,
    cancellation_backoff=CANCELLATION_BACKOFF,
    cancellation_timeout=CANCELLATION_TIMEOUT,
)
async def policy_worker(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    tiers_by_namespace: kopf.Index[str, Any],
    **_: Any,
) -> None:
    """Keep one policy's status in line with the tiers of its namespace."""
    namespace = _namespaced(namespace)
    runtime: Runtime = memo["runtime"]
    state = object_state(memo)

    async def step() -> Any:
        return await runtime.reconciler.policy(body, list(tiers_by_namespace.get(namespace, [])), state)

    await run_worker(
        runtime,
        (ROUTING_POLICY_KIND, namespace, name),
        state,
        step,
        stopped=stopped,
        logger=logger,
        on_failure=lambda exc, attempt: _report_failure(runtime, body, exc, attempt),
    )


def _report_failure(runtime: Runtime, body: kopf.Body, exc: ApiError, attempt: int) -> None:
    if attempt == 1:  # one event per failure streak, not one per retry
        runtime.reconciler.kube.post_event(body, WARNING, "ReconcileFailed", f"{exc}; retrying with back-off")


# ---------------------------------------------------------------- wake-ups


@kopf.on.event(GROUP, VERSION, MODEL_TIER_PLURAL, registry=registry)
def tier_changed(body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    """A tier's spec changed: wake its worker. Any tier change: re-check its namespace's policies."""
    namespace = _namespaced(namespace)
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    state = object_state(memo)
    if body.metadata.get("generation") != state.reconciled_generation:
        runtime.wakeups.ring((MODEL_TIER_KIND, namespace, name))
    runtime.wakeups.ring_namespace(ROUTING_POLICY_KIND, namespace)


@kopf.on.event(GROUP, VERSION, ROUTING_POLICY_PLURAL, registry=registry)
def policy_changed(body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    """A policy's spec changed: wake its worker."""
    namespace = _namespaced(namespace)
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None and body.metadata.get("generation") != object_state(memo).reconciled_generation:
        runtime.wakeups.ring((ROUTING_POLICY_KIND, namespace, name))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED, registry=registry, id="deployment_changed")
@kopf.on.event("", "v1", "services", labels=MANAGED, registry=registry, id="service_changed")
@kopf.on.event("", "v1", "persistentvolumeclaims", labels=MANAGED, registry=registry, id="claim_changed")
@kopf.on.event(
    KEDA_GROUP, KEDA_VERSION, SCALED_OBJECT_PLURAL, labels=MANAGED, registry=registry, id="scaled_object_changed"
)
def child_changed(type: str | None, body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A child changed or vanished: wake the tier that owns it."""
    namespace = _namespaced(namespace)
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    if type != "DELETED" and runtime.reconciler.is_own_write(
        body.get("kind", ""), namespace, body.metadata.get("name", ""), body.metadata.get("resourceVersion")
    ):
        return  # the echo of our own create or patch: the pass that wrote it already accounted for it
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("kind") == MODEL_TIER_KIND and ref.get("controller"):
            runtime.wakeups.ring((MODEL_TIER_KIND, namespace, ref.get("name", "")))


@kopf.on.event("", "v1", "pods", labels=MANAGED, registry=registry)
def pod_changed(labels: kopf.Labels, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A tier's pod changed (scheduled, pulled, crashed, ready): wake the tier."""
    namespace = _namespaced(namespace)
    runtime: Runtime | None = memo.get("runtime")
    value = labels.get(LABEL_TIER)
    if runtime is not None and value:
        runtime.wakeups.ring_tier_label(namespace, value)


@kopf.on.event("", "v1", "secrets", registry=registry)  # type: ignore[arg-type]  # index kwarg, as above
def secret_changed(
    namespace: str | None, name: str, memo: kopf.Memo, tiers_by_secret: kopf.Index[tuple[str, str], str], **_: Any
) -> None:
    """A Secret appeared, changed or vanished: wake the tiers that reference it."""
    namespace = _namespaced(namespace)
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    for tier in tiers_by_secret.get((namespace, name), []):
        runtime.wakeups.ring((MODEL_TIER_KIND, namespace, tier))
