"""One scenario of the capacity simulation: TierGate's gateway (and, autoscaled, KEDA) over a day.

The gateway is the real one: a `Dispatcher` (decide, then run) with its `ReplicaBook` (replicas
found by discovery as pods become ready or go away, their vLLM gauges read every second as the
gateway's scraper does), its `HealthBook`, its limits, and, autoscaled, its `ColdStarts` (demand,
the wake-up write, ScaledToZero/Starting, waits per latency class), over a snapshot built by
`build_snapshot` from the example tiers and policy. Everything runs on virtual time
(`tiergate_sim.virtual_time`), so a day takes a minute or two.

What is measured, for requests that arrive in [start, end):

- **failed**: the client got an error (the gateway answered with an error status, or a stream
  ended with an error event);
- **Interactive missed its class**: failed, or its first token reached the client more than
  `interactive_ttft_seconds` after it arrived (streams: the first content event; the default
  bound, 2 s, is the objective bench/replicas_bench.py uses for goodput);
- **GPU-hours**: pod-hours of the tier's Deployment within [start, end), from each pod's
  creation (the GPU is held during its cold start) to its deletion (or its last answer's end);
- **remote USD**: what the remote API's answers cost at its tier's token prices (their usage).
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import yaml

from capacity.cluster import DEFAULT_PORT, Deployment, Prometheus, RemoteApi, ReplicaModel
from capacity.transport import ClusterTransport
from capacity.workload import DayCurve, Request, Workload
from tiergate_api.autoscaling import DEFAULT_TARGET_KV_CACHE_PERCENT, Autoscaling
from tiergate_api.constants import HEADER_ATTEMPTS, HEADER_TIER
from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_demo.workload import WORKLOAD, DemoRequest
from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.core.registry import Snapshot, build_snapshot
from tiergate_gateway.core.views import TierView, femto_to_usd
from tiergate_gateway.dispatch.dispatcher import Dispatcher, StreamAnswer
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.health import HealthBook
from tiergate_gateway.runtime.replicas import ReplicaBook
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.upstream.transport import UpstreamResponse
from tiergate_sim.keda import KedaModel, ScaledObjectSpec, Trigger, flaps
from tiergate_sim.virtual_time import VirtualClock

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLES: Final = ROOT / "examples"
NAMESPACE: Final = "default"
LOCAL: Final = "llama-8b"
REMOTE: Final = "gpt-4o"
SERVICE_HOST: Final = f"{LOCAL}-vllm.{NAMESPACE}.svc.cluster.local:{DEFAULT_PORT}"
MIDNIGHT: Final = 1_767_225_600.0
"""2026-01-01 00:00 UTC: the wall clock at 0 seconds of the simulated day."""
NEVER_SCALES_OUT: Final = 1e9
"""The demand triggers' per-replica target (tiergate_operator.scaling): they wake, never add."""
TIMELINE_STEP: Final = 600.0


@dataclass(frozen=True)
class Autoscale:
    """The tier's `spec.vllm.autoscaling` in the autoscaled scenario."""

    min_replicas: int = 0
    max_replicas: int = 8
    target_waiting_requests: int = 4
    target_kv_cache_percent: int = DEFAULT_TARGET_KV_CACHE_PERCENT
    """The API's default unless a run says otherwise (0: the waiting queue alone)."""
    idle_seconds_before_zero: int = 600
    polling_interval_seconds: int = 15
    scale_down_stabilization_seconds: int = 300
    scale_down_pods_per_minute: int = 1

    def as_spec(self) -> dict[str, Any]:
        """The `autoscaling` block of a ModelTier."""
        spec: dict[str, Any] = {
            "minReplicas": self.min_replicas,
            "maxReplicas": self.max_replicas,
            "targetWaitingRequests": self.target_waiting_requests,
            "targetKvCachePercent": self.target_kv_cache_percent,
            "idleSecondsBeforeZero": self.idle_seconds_before_zero,
            "pollingIntervalSeconds": self.polling_interval_seconds,
            "scaleDown": {
                "stabilizationSeconds": self.scale_down_stabilization_seconds,
                "podsPerMinute": self.scale_down_pods_per_minute,
            },
        }
        return spec


@dataclass(frozen=True)
class Settings:
    """Everything a scenario depends on (all scenarios of a run share it)."""

    start: float
    """Seconds since midnight where measuring starts."""
    end: float
    warmup: float = 3600.0
    """Simulated before `start`, not measured: the pool and the gateway's live state settle."""
    seed: int = 1
    peak_rps: float = 10.0
    bursts_per_day: float = 8.0
    batch_share: float = 0.2
    replica: ReplicaModel = field(default_factory=ReplicaModel)
    cold_start: tuple[float, float] = (60.0, 300.0)
    gpu_hour_usd: float = 1.006
    interactive_ttft_seconds: float = 2.0
    prometheus_interval: float = 15.0
    watch_delay: float = 1.0
    wake_latency: float = 0.05
    """From the gateway's wake-up call to the Deployment's new spec (one API round trip)."""


@dataclass
class Tally:
    """What one scenario measured."""

    requests: int = 0
    interactive: int = 0
    batch: int = 0
    failed: int = 0
    interactive_missed: int = 0
    served: Counter[str] = field(default_factory=Counter)
    remote_femto: int = 0
    missed_by: Counter[str] = field(default_factory=Counter)
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    ttfts: list[float] = field(default_factory=list)
    batch_latencies: list[float] = field(default_factory=list)
    timeline: dict[int, dict[str, float]] = field(default_factory=dict)

    def slot(self, at: float) -> dict[str, float]:
        """The timeline row of the stretch that holds `at`."""
        key = int(at // TIMELINE_STEP)
        row = self.timeline.get(key)
        if row is None:
            row = self.timeline[key] = {"requests": 0, "missed": 0, "remote": 0, "desired": 0, "ready": 0}
        return row


def tier_documents(replicas: int | None, autoscale: Autoscale | None) -> list[dict[str, Any]]:
    """The example tiers llama-8b (in-cluster, as the operator reports it) and gpt-4o, in one namespace."""
    documents = []
    for name in (LOCAL, REMOTE):
        text = (EXAMPLES / "tiers" / f"{name}.yaml").read_text()
        (document,) = [d for d in yaml.safe_load_all(text) if d.get("kind") == "ModelTier"]
        document["metadata"]["namespace"] = NAMESPACE
        documents.append(document)
    local = documents[0]
    vllm = local["spec"]["vllm"]
    if autoscale is not None:
        vllm["autoscaling"] = autoscale.as_spec()
    if replicas is not None:
        vllm["replicas"] = replicas
    local["status"] = {
        "endpoint": f"http://{SERVICE_HOST}/v1",
        "locality": "Local",
        "replicas": replicas if replicas is not None else 1,
        "readyReplicas": replicas if replicas is not None else 1,
    }
    return documents


def policy_document() -> dict[str, Any]:
    """examples/policies/auto-hybrid.yaml over the two tiers (its chain cut to the tiers there are).

    Its daily budget is dropped: spending limits are another experiment, and a day's remote spend
    must not be capped while static pools are compared.
    """
    document = yaml.safe_load((EXAMPLES / "policies" / "auto-hybrid.yaml").read_text())
    document["metadata"]["namespace"] = NAMESPACE
    spec = document["spec"]
    spec["tiers"] = [{"name": LOCAL}, {"name": REMOTE}]
    spec["fallback"]["chain"] = [{"name": REMOTE}]
    spec["budget"].pop("dailyLimit", None)
    return document


def snapshot(replicas: int | None, autoscale: Autoscale | None) -> Snapshot:
    """The gateway's snapshot of the two tiers and the policy."""
    tiers = [ModelTier.model_validate(d) for d in tier_documents(replicas, autoscale)]
    policy = RoutingPolicy.model_validate(policy_document())
    return build_snapshot(tiers, [policy], lambda _namespace, _name, _key: "sk-bench")


def kinds_served_locally(all_kinds: bool) -> tuple[list[DemoRequest], list[DemoRequest]]:
    """The demo requests the gateway routes to the in-cluster tier first (and the others)."""
    store = SnapshotStore()
    store.publish(snapshot(1, None))
    dispatcher = Dispatcher(store, _NoTransport(), clock=lambda: MIDNIGHT)
    local: list[DemoRequest] = []
    other: list[DemoRequest] = []
    for kind in WORKLOAD:
        request = next(Workload(DayCurve(1.0, ()), kinds=[kind], batch_share=0.0).arrivals(0.0, 1e9))
        decision = dispatcher.decide(parse_request(request.body, "chat"), request.headers)
        (local if decision.plan.ranked_first == LOCAL or all_kinds else other).append(kind)
    return local, other


class _NoTransport:
    """A transport for deciding only: nothing is sent."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        raise AssertionError("deciding only")

    async def close(self) -> None:
        return None


@dataclass
class _World:
    """A scenario's moving parts, once wired."""

    clock: VirtualClock
    origin: float
    """Seconds since midnight when the simulation began (the virtual clock's 0)."""
    deployment: Deployment
    dispatcher: Dispatcher
    transport: ClusterTransport
    requests: dict[str, Request]
    cold: ColdStarts | None = None
    keda: KedaModel | None = None
    prometheus: Prometheus | None = None
    gateway_writes: list[tuple[float, int, int]] = field(default_factory=list)

    def now(self) -> float:
        """Seconds since midnight of the simulated day."""
        return self.origin + self.clock.monotonic()


def run(name: str, settings: Settings, kinds: Sequence[DemoRequest], pool: int | Autoscale) -> dict[str, Any]:
    """Run one scenario, a static pool of `pool` replicas or the tier autoscaled so; its figures."""
    # Replica ejections and circuit changes are logged per event: thousands over a day of overload.
    logging.getLogger("tiergate_gateway").setLevel(logging.ERROR)
    origin = settings.start - settings.warmup
    clock = VirtualClock(wall_at_start=MIDNIGHT + origin)
    tally = Tally()
    curve = DayCurve.draw(settings.peak_rps, settings.bursts_per_day, random.Random(settings.seed), days=2)
    workload = Workload(curve, kinds=kinds, batch_share=settings.batch_share, seed=settings.seed + 1)
    world: _World | None = None

    async def main() -> None:
        nonlocal world
        world = _wire(clock, origin, settings, pool)
        background = [asyncio.create_task(_scrape_replicas(world)), asyncio.create_task(_sample(world, tally))]
        if world.keda is not None and world.prometheus is not None:
            background.append(asyncio.create_task(world.keda.run(world.now)))
            background.append(asyncio.create_task(world.prometheus.run(world.now)))
        pending: set[asyncio.Task[None]] = set()
        for request in workload.arrivals(origin, settings.end):
            delay = request.at - world.now()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_ask(world, request, settings, tally))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    began = time.perf_counter()
    clock.run(main())
    assert world is not None
    figures = _figures(name, world, settings, tally, pool)
    figures["run_seconds"] = round(time.perf_counter() - began, 1)
    return figures


def _wire(clock: VirtualClock, origin: float, settings: Settings, pool: int | Autoscale) -> _World:
    rng = random.Random(settings.seed + 2)

    def now() -> float:
        return origin + clock.monotonic()

    replicas, autoscale = (pool, None) if isinstance(pool, int) else (None, pool)
    deployment = Deployment(
        settings.replica,
        now,
        cold_start=settings.cold_start,
        rng=rng,
        watch_delay=settings.watch_delay,
    )
    store = SnapshotStore()
    book = ReplicaBook()
    store.subscribe(lambda published: book.sync(published.tiers.values()))
    cold = ColdStarts(book, clock=clock.wall) if autoscale is not None else None
    if cold is not None:
        store.subscribe(lambda published: cold.sync(published.tiers.values(), clock.wall()))
    published = snapshot(replicas, autoscale)
    store.publish(published)
    remote_view = published.tiers_by_name[REMOTE]
    assert remote_view.url is not None
    remote = RemoteApi(remote_view.url.split("/", 3)[2], remote_view.ttft_ms, remote_view.tokens_per_second)
    requests: dict[str, Request] = {}
    transport = ClusterTransport(deployment, remote, requests, now, service_host=SERVICE_HOST, rng=rng)
    dispatcher = Dispatcher(
        store, transport, health=HealthBook(), clock=clock.wall, timer=clock.monotonic, replicas=book, cold_starts=cold
    )
    world = _World(clock, origin, deployment, dispatcher, transport, requests, cold)
    service = published.tiers_by_name[LOCAL].service
    assert service is not None
    deployment.endpoint_listeners.append(lambda addresses: book.discovered(service, addresses))
    deployment.start_ready(replicas if replicas is not None else 1)
    if cold is not None and autoscale is not None:
        _wire_autoscaling(world, cold, autoscale, settings)
    return world


def _wire_autoscaling(world: _World, cold: ColdStarts, autoscale: Autoscale, settings: Settings) -> None:
    """KEDA over the Deployment, Prometheus, and the gateway's wake-up write (sources/scaler.py's)."""
    deployment, clock = world.deployment, world.clock
    key = f"{NAMESPACE}/{LOCAL}"
    deployment.spec_listeners.append(lambda replicas: cold.set_desired(key, replicas, clock.wall()))
    api = Autoscaling.model_validate(autoscale.as_spec())
    # The demand trigger's range, as tiergate_operator.scaling renders it.
    prometheus = Prometheus(deployment, settings.prometheus_interval, float(api.demand_window_seconds))
    cold.on_demand = lambda _tier, _state: prometheus.count_demand()
    loop = asyncio.get_running_loop()

    def wake() -> None:  # DeploymentWaker.wake: a compare-and-set from 0 to 1
        current = deployment.replicas
        if current > 0:
            cold.set_desired(key, current, clock.wall())
        else:
            world.gateway_writes.append((world.now(), 0, 1))
            deployment.write(1, "gateway")

    def waker(_tier: TierView) -> None:  # DeploymentWaker.request: the write happens off the request path
        loop.call_later(settings.wake_latency, wake)

    cold.waker = waker
    triggers = [Trigger("queue", lambda: prometheus.waiting, autoscale.target_waiting_requests)]
    if autoscale.target_kv_cache_percent:
        triggers.append(Trigger("kv-cache", lambda: prometheus.kv_percent, autoscale.target_kv_cache_percent))
    triggers.append(Trigger("demand", prometheus.demand_increase, NEVER_SCALES_OUT))
    triggers.append(Trigger("gateway-demand", lambda: float(cold.demand(key, clock.wall()) or 0), NEVER_SCALES_OUT))
    spec = ScaledObjectSpec.from_autoscaling(api, tuple(triggers))
    # The ScaledObject has existed for a day, and the tier was in use when the warm-up begins.
    world.keda = KedaModel(spec, deployment, created_at=world.now() - 86_400, last_active_time=world.now())
    world.prometheus = prometheus


async def _scrape_replicas(world: _World) -> None:
    """The gateway's scraper (upstream/scraper.py): each replica's vLLM gauges, every second."""
    book = world.dispatcher.replicas.book
    assert book is not None
    deployment = world.deployment
    while True:
        wall = world.clock.wall()
        for pool in book.scraped():
            for url in pool.urls:
                pod = deployment.by_address.get(url.split("/", 3)[2])
                if pod is None or not pod.ready:
                    pool.mark_stale(url)
                else:
                    engine = pod.engine
                    pool.record_signals(url, engine.running, engine.waiting, engine.pool.usage, wall)
            pool.expire(wall)
        await asyncio.sleep(1.0)


async def _sample(world: _World, tally: Tally) -> None:
    """The Deployment's desired and ready replicas, once a minute, for the timeline."""
    while True:
        now = world.now()
        row = tally.slot(now)
        row["desired"] = max(row["desired"], world.deployment.replicas)
        row["ready"] = max(row["ready"], len(world.deployment.ready_addresses()))
        await asyncio.sleep(60.0)


async def _ask(world: _World, request: Request, settings: Settings, tally: Tally) -> None:
    """Send one request as the server does and record what the client saw."""
    rid = str(request.index)
    world.requests[rid] = request
    started = world.clock.monotonic()
    ok, tier, attempts, cost, reasons = False, None, 0, 0, ""
    first = total = 0.0
    try:
        parsed = parse_request(request.body, "chat")
        decision = world.dispatcher.decide(parsed, request.headers)
        answer = await world.dispatcher.run(parsed, decision, request_id=rid)
        first = world.clock.monotonic() - started
        if isinstance(answer, StreamAnswer):
            ok = True
            async for chunk in answer.chunks:
                if chunk.startswith(b'data: {"error"'):
                    ok = False
        else:
            ok = answer.status == 200
        total = world.clock.monotonic() - started
        tier = answer.headers.get(HEADER_TIER)
        attempts = int(answer.headers.get(HEADER_ATTEMPTS, "0"))
        reasons = answer.headers.get("x-tiergate-fallback-reason", "")
        cost = answer.trail.cost_femto or 0
    except GatewayError as exc:
        reasons = f"error {exc.status}: {exc.message[:120]}"
        first = total = world.clock.monotonic() - started
    finally:
        del world.requests[rid]
    if not settings.start <= request.at < settings.end:
        return
    _record(tally, request, settings, ok=ok, tier=tier, attempts=attempts, cost=cost, first=first, total=total)
    if reasons:
        tally.fallback_reasons[_reason_kind(reasons)] += 1


def _record(
    tally: Tally,
    request: Request,
    settings: Settings,
    *,
    ok: bool,
    tier: str | None,
    attempts: int,
    cost: int,
    first: float,
    total: float,
) -> None:
    tally.requests += 1
    row = tally.slot(request.at)
    row["requests"] += 1
    tally.served[tier or "failed"] += 1
    if not ok:
        tally.failed += 1
    if tier == REMOTE:
        tally.remote_femto += cost
        row["remote"] += 1
    if request.interactive:
        tally.interactive += 1
        tally.ttfts.append(first)
        if not ok or first > settings.interactive_ttft_seconds:
            tally.interactive_missed += 1
            row["missed"] += 1
            if not ok:
                cause = "failed"
            elif attempts > 1:
                cause = f"answered by {tier} after a failed attempt"
            else:
                cause = f"slow first token from {tier}"
            tally.missed_by[cause] += 1
    else:
        tally.batch += 1
        tally.batch_latencies.append(total)


def _reason_kind(reasons: str) -> str:
    """A fallback header reduced to its reasons without tier names (for counting)."""
    kinds = sorted({part.split("=")[-1].strip() for part in reasons.split(";")})
    return "; ".join(kinds)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _figures(name: str, world: _World, settings: Settings, tally: Tally, pool: int | Autoscale) -> dict[str, Any]:
    hours = (settings.end - settings.start) / 3600
    gpu_hours = world.deployment.gpu_seconds(settings.start, settings.end) / 3600
    gpu_usd = gpu_hours * settings.gpu_hour_usd
    remote_usd = float(femto_to_usd(tally.remote_femto).quantize(Decimal("0.0001")))
    measured_writes = [w for w in world.deployment.writes if settings.start <= w.at < settings.end]
    cold_starts = world.deployment.cold_starts
    figures: dict[str, Any] = {
        "name": name,
        "replicas": pool if isinstance(pool, int) else f"{pool.min_replicas}-{pool.max_replicas}",
        "hours": hours,
        "gpu_hours": round(gpu_hours, 3),
        "gpu_usd": round(gpu_usd, 2),
        "remote_usd": round(remote_usd, 2),
        "total_usd": round(gpu_usd + remote_usd, 2),
        "failed": tally.failed,
        "interactive_missed_pct": round(100 * tally.interactive_missed / max(1, tally.interactive), 3),
        "requests": tally.requests,
        "interactive_requests": tally.interactive,
        "interactive_missed": tally.interactive_missed,
        "batch_requests": tally.batch,
        "served": dict(tally.served),
        "remote_share_pct": round(100 * tally.served[REMOTE] / max(1, tally.requests), 2),
        "interactive_ttft_p50_s": _round(_percentile(tally.ttfts, 0.5)),
        "interactive_ttft_p99_s": _round(_percentile(tally.ttfts, 0.99)),
        "batch_latency_p50_s": _round(_percentile(tally.batch_latencies, 0.5)),
        "batch_latency_p99_s": _round(_percentile(tally.batch_latencies, 0.99)),
        "missed_by": dict(tally.missed_by.most_common()),
        "fallback_reasons": dict(tally.fallback_reasons.most_common(8)),
        "max_replicas_seen": max((w.after for w in world.deployment.writes), default=world.deployment.replicas),
        "replica_writes": len(measured_writes),
        "pods_started": len(cold_starts),
        "cold_start_mean_s": _round(statistics.fmean(cold_starts) if cold_starts else None),
        "connection_refused": world.transport.refused,
        "timeline": [
            {"at_h": round(key * TIMELINE_STEP / 3600, 2), **row}
            for key, row in sorted(tally.timeline.items())
            if settings.start <= key * TIMELINE_STEP < settings.end
        ],
    }
    if world.keda is not None and world.cold is not None and isinstance(pool, Autoscale):
        window = settings.start, settings.end
        figures["writes_by"] = dict(Counter(w.writer for w in measured_writes))
        figures["keda_writes_by"] = dict(Counter(c.actor.value for c in world.keda.changes if _within(c.at, window)))
        figures["gateway_wakes"] = sum(1 for at, _, _ in world.gateway_writes if _within(at, window))
        figures["reversed_wakes"] = world.cold.reversed_wakes
        figures["wakes_undone_by_keda"] = _wakes_undone(world, float(pool.idle_seconds_before_zero))
        figures["direction_changes_within_5min"] = flaps([(w.at, w.before, w.after) for w in measured_writes], 300)
    return figures


def _within(at: float, window: tuple[float, float]) -> bool:
    return window[0] <= at < window[1]


def _wakes_undone(world: _World, idle: float) -> int:
    """Gateway wake-ups (0 -> 1) that KEDA took back to zero sooner than an idle tier could go: fights."""
    assert world.keda is not None
    undone = 0
    for woke_at, _, _ in world.gateway_writes:
        later = [c for c in world.keda.changes if c.at > woke_at]
        if later and later[0].after == 0 and later[0].at - woke_at < idle:
            undone += 1
    return undone


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
