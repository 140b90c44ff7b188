"""One reconcile pass of a tier or a policy: read, compare, write only what differs, report.

The pass is level-triggered: it does not care what woke it (a spec change, a deleted
Deployment, a pod that crashed, a Secret that appeared). It renders the desired children
(`render`), reads the live ones (`kube`), writes only where they differ (`diff`), computes
the status (`status`), writes it only when it changed, and posts events for what it did.
So reconciling an unchanged tier reads a few objects and writes nothing.

An autoscaled tier also asks API discovery whether KEDA is installed: if so, its
ScaledObject is one more child, and the Deployment's replica count is KEDA's, never
compared or written after creation; if not, the pass asks to be run again after
`keda_recheck_seconds`, so that KEDA installed later takes over without a restart.

API failures that may pass (`RetryableError`) propagate to the worker, which retries
with back-off. Failures that retrying cannot fix (a child owned by someone else, a
manifest the server rejects, missing permissions) become a `Degraded` condition with
a reason and an event, and the pass ends normally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tiergate_api.modeltier import ModelTier
from tiergate_api.resources import field_errors
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_operator import status as status_
from tiergate_operator.diff import controller_uid, differences, merge_patch
from tiergate_operator.errors import ForbiddenError, InvalidError
from tiergate_operator.kube import BY_KIND, MODEL_TIERS, PODS, ROUTING_POLICIES, SCALED_OBJECTS, Kube
from tiergate_operator.names import cache_claim_name, workload_name
from tiergate_operator.render import ANNOTATION_SPEC_HASH, Children, Manifest, Path, pods_selector, render
from tiergate_operator.scaling import Scaling
from tiergate_operator.settings import OperatorConfig
from tiergate_operator.status import Event, Problem, SecretCheck, StatusResult, TierObservation, TierView
from tiergate_operator.telemetry import ConditionCensus


@dataclass
class ObjectState:
    """What the operator remembers about one tier or policy between passes (in memory only)."""

    last_status: dict[str, Any] | None = None
    """The status as last written; newer than the watched copy until the watch catches up."""
    reconciled_generation: int | None = None
    """The generation the latest pass started from; a watch event of the same one needs no new pass."""
    passes: int = 0
    """Completed passes; the first one after a start also looks for children left over from before."""
    seen_children: set[str] = field(default_factory=set)
    """`Kind/name` of children seen alive, so a missing one is reported as restored, not created."""
    failures: int = 0
    """Consecutive failed passes, for the back-off."""


@dataclass(frozen=True)
class Outcome:
    """What a pass asks of its worker: when to look again even if nothing wakes it."""

    recheck_after: float | None = None


class Reconciler:
    """Reconciles tiers and policies with one API client and one configuration."""

    def __init__(self, kube: Kube, config: OperatorConfig) -> None:
        self.kube = kube
        self.config = config
        self.census = ConditionCensus()
        self._own_versions: dict[tuple[str, str, str], str] = {}

    def is_own_write(self, kind: str, namespace: str, name: str, resource_version: str | None) -> bool:
        """Whether a child's watch event only echoes what this operator just wrote (no pass needed)."""
        return resource_version is not None and self._own_versions.get((kind, namespace, name)) == resource_version

    def _remember(self, written: Mapping[str, Any]) -> None:
        meta = written.get("metadata", {})
        key = (written.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))
        self._own_versions[key] = meta.get("resourceVersion", "")

    # ---------------------------------------------------------------- tiers

    async def tier(self, body: Mapping[str, Any], state: ObjectState) -> Outcome:
        """Bring a tier's children and status in line with its spec."""
        state.reconciled_generation = _generation(body)
        try:
            tier = parse_tier(body)
        except ValueError as exc:
            await self._write_status(
                MODEL_TIERS, body, state, status_.invalid_status(_generation(body), str(exc), _prev(body, state))
            )
            return Outcome()
        events: list[Event] = []
        problems: list[Problem] = []
        try:
            autoscaled = tier.spec.vllm is not None and tier.spec.vllm.autoscaling is not None
            keda_installed = autoscaled and await self.kube.serves(SCALED_OBJECTS)
            desired = render(tier, self.config, keda_installed=keda_installed)
            live = await self._sync_children(tier, desired, state, events, problems)
        finally:
            # What was done is told even when a later step fails and the pass is retried.
            self._post(body, events)
        deployment = live.get("Deployment")
        pods: list[dict[str, Any]] = []
        if deployment is not None and _needs_pod_check(deployment, status_.desired_replicas(tier, deployment)):
            selector = pods_selector(tier.metadata.name)
            pods = await self.kube.list(PODS, tier.metadata.namespace, label_selector=selector)
        secrets = await self._check_secrets(tier)
        observation = TierObservation(
            deployment=deployment,
            pods=pods,
            secrets=secrets,
            problems=problems,
            scaling=desired.scaling,
            scaled_object=live.get("ScaledObject"),
        )
        result = status_.tier_status(tier, observation, _prev(body, state))
        await self._write_status(MODEL_TIERS, body, state, result)
        self.census.update(tier.metadata.namespace, tier.metadata.name, result.status)
        state.passes += 1
        rechecks = []
        if any(check.problem is not None for check in secrets):
            rechecks.append(self.config.unresolved_recheck_seconds)
        if problems:
            rechecks.append(self.config.retry_max_seconds)
        if desired.scaling is Scaling.KEDA_NOT_INSTALLED:
            rechecks.append(self.config.keda_recheck_seconds)
        return Outcome(recheck_after=min(rechecks) if rechecks else None)

    async def _sync_children(
        self, tier: ModelTier, desired: Children, state: ObjectState, events: list[Event], problems: list[Problem]
    ) -> dict[str, dict[str, Any]]:
        """Create, patch or delete each child as needed; return the live ones that are ours, by kind."""
        found: dict[str, dict[str, Any]] = {}
        wanted: list[tuple[str, Manifest | None]] = [("PersistentVolumeClaim", desired.cache_claim)]
        if desired.scaled_object is None:  # KEDA lets go of the replicas before the operator takes them back
            wanted.append(("ScaledObject", None))
        wanted += [("Deployment", desired.deployment), ("Service", desired.service)]
        if desired.scaled_object is not None:  # created once what it scales exists
            wanted.append(("ScaledObject", desired.scaled_object))
        for kind, manifest in wanted:
            try:
                live = await self._sync_child(tier, kind, manifest, state, events, unowned=desired.unowned(kind))
            # These end as a Degraded condition (and its event, once per transition), not as retries.
            except InvalidError as exc:
                problems.append(Problem("InvalidWorkload", f"the API server rejected the {kind}: {exc.message}"))
                continue
            except ForbiddenError as exc:
                problems.append(Problem("Forbidden", f"the operator may not write the {kind}: {exc.message}"))
                continue
            except _ForeignChild as exc:
                problems.append(Problem("ChildConflict", str(exc)))
                continue
            if live is not None:
                found[kind] = live
        return found

    async def _sync_child(
        self,
        tier: ModelTier,
        kind: str,
        manifest: dict[str, Any] | None,
        state: ObjectState,
        events: list[Event],
        *,
        unowned: tuple[Path, ...] = (),
    ) -> dict[str, Any] | None:
        if manifest is None:
            await self._delete_stale_child(tier, kind, state, events)
            return None
        resource = BY_KIND[kind]
        namespace, name = tier.metadata.namespace, manifest["metadata"]["name"]
        key = f"{kind}/{name}"
        live = await self.kube.get(resource, namespace, name)
        if live is None:
            created = await self.kube.create(manifest)  # AlreadyExists (a race) is retried, and then read
            if key in state.seen_children:
                events.append(Event(status_.WARNING, "Restored", f"Recreated {kind} {name}: it was deleted"))
            else:
                events.append(Event(status_.NORMAL, "Created", f"Created {kind} {name}"))
            state.seen_children.add(key)
            self._remember(created)
            return created
        owner = controller_uid(live)
        if owner != tier.metadata.uid:
            raise _ForeignChild(
                f"{kind} {name} exists and is not controlled by this tier; delete or rename it"
                if owner is None
                else f"{kind} {name} belongs to another owner (uid {owner}); waiting for it to be garbage-collected"
            )
        state.seen_children.add(key)
        if kind == "PersistentVolumeClaim":
            return live  # a claim's spec cannot change after creation; a new size needs a new claim
        changed = differences(manifest, live, unowned=unowned)
        if not changed:
            return live
        live_hash = (live["metadata"].get("annotations") or {}).get(ANNOTATION_SPEC_HASH)
        spec_changed = live_hash != manifest["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
        patched = await self.kube.patch(resource, namespace, name, merge_patch(manifest, live, unowned=unowned))
        self._remember(patched)
        if spec_changed:
            events.append(Event(status_.NORMAL, "Updated", f"Updated {kind} {name} to the tier's spec"))
        else:
            fields = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
            events.append(
                Event(status_.WARNING, "Restored", f"Restored {kind} {name}: changed outside the operator ({fields})")
            )
        return patched

    async def _delete_stale_child(self, tier: ModelTier, kind: str, state: ObjectState, events: list[Event]) -> None:
        """Remove a child the spec no longer asks for (a vllm tier turned endpoint, a cache removed)."""
        name = (
            cache_claim_name(tier.metadata.name)
            if kind == "PersistentVolumeClaim"
            else workload_name(tier.metadata.name)
        )
        key = f"{kind}/{name}"
        if key not in state.seen_children and state.passes > 0:
            return  # never had one in this process's memory and already reconciled once: nothing to clean
        live = await self.kube.get(BY_KIND[kind], tier.metadata.namespace, name)
        state.seen_children.discard(key)
        if live is None or controller_uid(live) != tier.metadata.uid:
            return
        await self.kube.delete(BY_KIND[kind], tier.metadata.namespace, name, uid=live["metadata"].get("uid"))
        events.append(Event(status_.NORMAL, "Deleted", f"Deleted {kind} {name}: no longer in the tier's spec"))

    async def _check_secrets(self, tier: ModelTier) -> list[SecretCheck]:
        refs: list[tuple[str, Any]] = []
        if tier.spec.vllm is not None and tier.spec.vllm.hf_token_secret_ref is not None:
            refs.append(("spec.vllm.hfTokenSecretRef", tier.spec.vllm.hf_token_secret_ref))
        if tier.spec.endpoint is not None and tier.spec.endpoint.api_key_secret_ref is not None:
            refs.append(("spec.endpoint.apiKeySecretRef", tier.spec.endpoint.api_key_secret_ref))
        checks = []
        for field_path, ref in refs:
            keys = await self.kube.secret_keys(tier.metadata.namespace, ref.name)
            checks.append(
                SecretCheck(
                    field=field_path,
                    name=ref.name,
                    key=ref.key,
                    secret_exists=keys is not None,
                    key_exists=keys is not None and ref.key in keys,
                )
            )
        return checks

    # ---------------------------------------------------------------- policies

    async def policy(self, body: Mapping[str, Any], tiers: Iterable[TierView], state: ObjectState) -> Outcome:
        """Check a policy's tier references and Local fallback; publish its status."""
        state.reconciled_generation = _generation(body)
        try:
            policy = parse_policy(body)
        except ValueError as exc:
            result = status_.invalid_status(_generation(body), str(exc), _prev(body, state))
        else:
            result = status_.policy_status(policy, {view.name: view for view in tiers}, _prev(body, state))
        await self._write_status(ROUTING_POLICIES, body, state, result, owned=status_.POLICY_STATUS_KEYS)
        state.passes += 1
        return Outcome()

    # ---------------------------------------------------------------- shared

    async def _write_status(
        self,
        resource: Any,
        body: Mapping[str, Any],
        state: ObjectState,
        result: StatusResult,
        *,
        owned: Iterable[str] = status_.TIER_STATUS_KEYS,
    ) -> None:
        meta = body["metadata"]
        patch = status_.status_patch(result.status, _prev(body, state), tuple(owned))
        if patch is not None:
            written = await self.kube.patch(
                resource, meta["namespace"], meta["name"], {"status": patch}, subresource="status"
            )
            state.last_status = dict(written.get("status") or {})
        self._post(body, result.events)

    def _post(self, body: Mapping[str, Any], events: Iterable[Event]) -> None:
        for event in events:
            self.kube.post_event(body, event.type, event.reason, event.message)


class _ForeignChild(Exception):
    """A child's name is taken by an object this tier does not control."""


def parse_tier(body: Mapping[str, Any]) -> ModelTier:
    """The tier's spec as a model; ValueError naming the fields when the operator cannot read it."""
    return _parse(ModelTier, body)


def parse_policy(body: Mapping[str, Any]) -> RoutingPolicy:
    """The policy's spec as a model; ValueError naming the fields when the operator cannot read it."""
    return _parse(RoutingPolicy, body)


def _parse(model: Any, body: Mapping[str, Any]) -> Any:
    document = {key: body.get(key) for key in ("apiVersion", "kind", "metadata", "spec")}
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        detail = "; ".join(f"{path}: {message}" if path else message for path, message in field_errors(exc))
        raise ValueError(f"the operator cannot read this object: {detail}") from None


def _generation(body: Mapping[str, Any]) -> int | None:
    return (body.get("metadata") or {}).get("generation")


def _prev(body: Mapping[str, Any], state: ObjectState) -> dict[str, Any]:
    # The watched body may predate our own last write; what we wrote is never older.
    if state.last_status is not None:
        return state.last_status
    return dict(body.get("status") or {})


def _needs_pod_check(deployment: Mapping[str, Any], desired: int) -> bool:
    """Pods are listed only when the Deployment is short of ready or up-to-date pods.

    `desired` is what the tier wants now (for an autoscaled tier, what its scaler chose).
    A Deployment its controller has not yet observed has no pods to explain anything,
    so a tier's first pass skips the listing.
    """
    status = deployment.get("status") or {}
    if status.get("observedGeneration") is None:
        return False
    ready = status.get("readyReplicas") or 0
    updated = status.get("updatedReplicas") or 0
    unavailable = status.get("unavailableReplicas") or 0
    return desired > 0 and (ready < desired or updated < desired or unavailable > 0)
