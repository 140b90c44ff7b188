"""Kubernetes mode: list then watch ModelTiers, RoutingPolicies and Secrets, and keep the snapshot current.

One reflector per resource (and namespace): it lists, then watches from the list's
resourceVersion, resumes from the last event's version after a dropped connection,
relists on 410 Gone, and backs off (capped) while the API server is away. Its store stays
as it was meanwhile, so the gateway keeps routing with the last good snapshot. Invalid
objects (which the CRD schema should have stopped) are logged once and left out.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from tiergate_api.constants import (
    GROUP,
    MODEL_TIER_KIND,
    MODEL_TIER_PLURAL,
    ROUTING_POLICY_KIND,
    ROUTING_POLICY_PLURAL,
    VERSION,
)
from tiergate_api.modeltier import ModelTier
from tiergate_api.resources import InvalidResourceError, parse_resource
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_gateway.core.registry import build_snapshot
from tiergate_gateway.core.views import femto_to_usd
from tiergate_gateway.runtime.background import cancel_and_wait
from tiergate_gateway.runtime.budget import utc_day
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.replicas import ReplicaBook
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources import endpointslices
from tiergate_gateway.sources.scaler import DeploymentWaker
from tiergate_gateway.telemetry import metrics

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 240
BACKOFF_START = 0.2
BACKOFF_MAX = 10.0
DEBOUNCE_SECONDS = 0.02

Key = tuple[str, str]


class Reflector:
    """A local copy of one resource collection, kept current by list and watch."""

    def __init__(
        self,
        name: str,
        kind: str,
        lister: Callable[..., Awaitable[Any]],
        list_args: tuple[Any, ...],
        on_change: Callable[[], None],
        list_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.lister = lister
        self.list_args = list_args
        self.list_kwargs = list_kwargs or {}
        self.on_change = on_change
        self.objects: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self.resource_version: str | None = None
        self.reconnects = 0

    async def run(self) -> None:
        """List, watch, repeat; never returns until cancelled."""
        delay = BACKOFF_START
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                delay = BACKOFF_START
            except asyncio.CancelledError:
                raise
            except _Gone:
                log.info("%s: resourceVersion expired (410); relisting", self.name)
                self.resource_version = None
            except Exception as exc:  # the API server is away or answered oddly: keep the store, retry
                self.reconnects += 1
                metrics.WATCH_RECONNECTS.inc()
                log.warning("%s: %s; retrying in %.1fs with the last known state", self.name, _describe(exc), delay)
                await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, BACKOFF_MAX)

    async def _list(self) -> None:
        response = await self.lister(*self.list_args, **self.list_kwargs, _preload_content=False)
        document = orjson.loads(await response.read())
        _raise_for_status(document)
        self.objects = {_key(item): self._typed(item) for item in document.get("items", [])}
        self.resource_version = document.get("metadata", {}).get("resourceVersion")
        self.synced.set()
        self.on_change()

    async def _watch(self) -> None:
        response = await self.lister(
            *self.list_args,
            **self.list_kwargs,
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _preload_content=False,
        )
        async with response:
            if response.status == 410:
                raise _Gone
            if response.status >= 400:
                raise RuntimeError(f"watch answered HTTP {response.status}")
            pending = b""
            async for data in response.content.iter_any():
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._apply(orjson.loads(line))

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        version = obj.get("metadata", {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            self.objects.pop(_key(obj), None)
        elif kind in ("ADDED", "MODIFIED"):
            self.objects[_key(obj)] = self._typed(obj)
        self.on_change()

    def _typed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """List items carry no kind; put it back so objects parse the same from lists and watches."""
        obj.setdefault("kind", self.kind)
        return obj


class _Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


def _raise_for_status(document: dict[str, Any]) -> None:
    if document.get("kind") == "Status" and document.get("status") == "Failure":
        if document.get("code") == 410:
            raise _Gone
        raise RuntimeError(f"list answered {document.get('code')}: {document.get('message')}")


def _key(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata", {})
    return (metadata.get("namespace", ""), metadata.get("name", ""))


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


class KubeSource:
    """Watches the cluster and publishes snapshots into the store."""

    def __init__(
        self,
        store: SnapshotStore,
        *,
        namespaces: list[str],
        kubeconfig: Path | None = None,
        spend: SpendReader | None = None,
        budget_status_interval: float = 30.0,
        replicas: ReplicaBook | None = None,
        cold: ColdStarts | None = None,
    ) -> None:
        self.store = store
        self.replicas = replicas
        self.cold = cold
        """Cold starts to wake: given, the gateway scales a wanted tier at zero to one replica (sources/scaler.py)."""
        self._services: set[str] = set()
        self.namespaces = namespaces
        self.kubeconfig = kubeconfig
        self.spend = spend
        self.budget_status_interval = budget_status_interval
        self.reflectors: list[Reflector] = []
        self._dirty = asyncio.Event()
        self._invalid_seen: set[tuple[str, str]] = set()

    async def run(self) -> None:
        """Connect, start the reflectors, and rebuild the snapshot whenever they change."""
        from kubernetes_asyncio import client

        api_client = await self._api_client()
        try:
            custom = client.CustomObjectsApi(api_client)
            core = client.CoreV1Api(api_client)
            self.reflectors = self._reflectors(custom, core)
            if self.replicas is not None:
                self.reflectors += self._slice_reflectors(client.DiscoveryV1Api(api_client))
            tasks = [asyncio.create_task(r.run(), name=f"reflector-{r.name}") for r in self.reflectors]
            if self.spend is not None:
                writer = BudgetStatusWriter(custom, self.store, self.spend, self.budget_status_interval)
                tasks.append(asyncio.create_task(writer.run(), name="budget-status"))
            if self.cold is not None:
                waker = DeploymentWaker(client.AppsV1Api(api_client), self.cold)
                self.cold.waker = waker.request
                tasks.append(asyncio.create_task(waker.run(), name="cold-start-waker"))
            try:
                await self._publish_loop()
            finally:
                await cancel_and_wait(tasks)
        finally:
            await api_client.close()

    async def _api_client(self) -> Any:
        from kubernetes_asyncio import client, config

        configuration = client.Configuration()
        if self.kubeconfig is not None:
            await config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                await config.load_kube_config(client_configuration=configuration)
        return client.ApiClient(configuration)

    def _reflectors(self, custom: Any, core: Any) -> list[Reflector]:
        mark = self._dirty.set
        found = []
        for plural, kind in ((MODEL_TIER_PLURAL, MODEL_TIER_KIND), (ROUTING_POLICY_PLURAL, ROUTING_POLICY_KIND)):
            if self.namespaces:
                for ns in self.namespaces:
                    found.append(
                        Reflector(
                            f"{plural}/{ns}",
                            kind,
                            custom.list_namespaced_custom_object,
                            (GROUP, VERSION, ns, plural),
                            mark,
                        )
                    )
            else:
                found.append(Reflector(plural, kind, custom.list_cluster_custom_object, (GROUP, VERSION, plural), mark))
        if self.namespaces:
            found += [
                Reflector(f"secrets/{ns}", "Secret", core.list_namespaced_secret, (ns,), mark) for ns in self.namespaces
            ]
        else:
            found.append(Reflector("secrets", "Secret", core.list_secret_for_all_namespaces, (), mark))
        return found

    def _slice_reflectors(self, discovery: Any) -> list[Reflector]:
        """EndpointSlices of tier Services: the replicas of in-cluster tiers (sources/endpointslices.py)."""
        selector = {"label_selector": endpointslices.SELECTOR}
        update = self._publish_replicas
        kind = "EndpointSlice"
        if self.namespaces:
            lister = discovery.list_namespaced_endpoint_slice
            return [Reflector(f"endpointslices/{ns}", kind, lister, (ns,), update, selector) for ns in self.namespaces]
        lister = discovery.list_endpoint_slice_for_all_namespaces
        return [Reflector("endpointslices", kind, lister, (), update, selector)]

    def _publish_replicas(self) -> None:
        """Hand every tier Service's ready addresses to the replica book (cheap: no snapshot is built)."""
        if self.replicas is None:
            return
        slices = [obj for r in self.reflectors if r.kind == "EndpointSlice" for obj in r.objects.values()]
        found = endpointslices.ready_addresses(slices)
        for service in self._services - set(found):
            self.replicas.discovered(service, None)
        for service, addresses in found.items():
            self.replicas.discovered(service, addresses)
        self._services = set(found)

    async def _publish_loop(self) -> None:
        await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
        while True:
            self._publish()
            await self._dirty.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)  # coalesce a burst of events into one snapshot
            self._dirty.clear()

    def _publish(self) -> None:
        tiers: list[ModelTier] = []
        policies: list[RoutingPolicy] = []
        secrets: dict[Key, dict[str, str]] = {}
        for reflector in self.reflectors:
            if reflector.kind == "EndpointSlice":
                continue
            for key, obj in reflector.objects.items():
                if reflector.kind == "Secret":
                    secrets[key] = obj.get("data") or {}
                    continue
                resource = self._parse(obj)
                if isinstance(resource, ModelTier):
                    tiers.append(resource)
                elif isinstance(resource, RoutingPolicy):
                    policies.append(resource)

        def lookup(namespace: str, name: str, key: str) -> str | None:
            encoded = secrets.get((namespace, name), {}).get(key)
            if encoded is None:
                return None
            try:
                return base64.b64decode(encoded).decode()
            except (ValueError, UnicodeDecodeError):
                return None

        snapshot = build_snapshot(tiers, policies, lookup, version=self.store.next_version(), created_at=time.time())
        self.store.publish(snapshot)
        log.info("snapshot %d: %d tiers, %d policies", snapshot.version, len(snapshot.tiers), len(snapshot.policies))

    def _parse(self, obj: dict[str, Any]) -> ModelTier | RoutingPolicy | None:
        obj.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        try:
            return parse_resource(obj)
        except InvalidResourceError as exc:
            marker = (str(_key(obj)), obj.get("metadata", {}).get("resourceVersion", ""))
            if marker not in self._invalid_seen:
                self._invalid_seen.add(marker)
                log.error("ignoring invalid %s", exc)
            return None

    @property
    def reconnects(self) -> int:
        """Watch reconnects so far (for metrics)."""
        return sum(r.reconnects for r in self.reflectors)


class SpendReader(Protocol):
    """Today's spend per policy key (the gateway's local or shared state)."""

    def spent_today(self, policy_key: str, now: float) -> int: ...


class BudgetStatusWriter:
    """Publishes each policy's spend today in `status.budget`, at a modest rate and only on change.

    A merge patch of the status subresource touches `budget` only, so it never fights the
    operator over conditions. With several replicas, use Redis so they all write one total.
    """

    def __init__(self, api: Any, store: SnapshotStore, spend: SpendReader, interval: float) -> None:
        self.api = api
        self.store = store
        self.spend = spend
        self.interval = interval
        self._written: dict[str, tuple[str, int]] = {}

    async def run(self) -> None:
        """Write changed figures every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.write_once(time.time())

    async def write_once(self, now: float) -> None:
        """One pass over the policies of the current snapshot."""
        day = utc_day(now)
        for policy in list(self.store.current.policies.values()):
            spent = self.spend.spent_today(policy.key, now)
            if self._written.get(policy.key) == (day, spent):
                continue
            budget: dict[str, str] = {"day": day, "spent": _usd(spent)}
            if policy.daily_limit_femto is not None:
                budget["remaining"] = _usd(max(0, policy.daily_limit_femto - spent))
            try:
                await self.api.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    policy.namespace,
                    ROUTING_POLICY_PLURAL,
                    policy.name,
                    {"status": {"budget": budget}},
                    _content_type="application/merge-patch+json",
                )
            except Exception as exc:  # the API may be away or the policy gone: try again next round
                log.debug("could not publish the budget of %s: %s", policy.key, _describe(exc))
                continue
            self._written[policy.key] = (day, spent)


def _usd(femto: int) -> str:
    text = f"{femto_to_usd(femto):.9f}".rstrip("0").rstrip(".")
    return text or "0"
