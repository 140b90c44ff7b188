"""The world the gateway runs in: the tier's Deployment and pods, the remote API, and Prometheus.

- `ReplicaModel`: what one vLLM replica can do, in `tiergate sim`'s terms (its scheduler,
  `tiergate_sim._engine.Engine`: `--max-num-seqs`, a KV cache of blocks, a FIFO queue; a first
  token after `ttft_ms` plus the prompt's prefill, then the answer at `decode_tps` per sequence).
- `Pod`: one replica, from its creation (the GPU is paid from then) to its deletion (and the
  end of its last answer), ready after a cold start.
- `Deployment`: `spec.replicas` and the pods that follow it, as a ReplicaSet does: pods are
  created at once and become ready after a cold start drawn from [low, high] seconds; a scale
  down deletes pods not yet ready first, then the most recently ready. It is the `ScaleTarget`
  of the KEDA model, and the gateway's wake-up writes to it. It tells listeners (after
  `watch_delay`, the time an informer takes) of its new spec and of its ready pods (the
  EndpointSlices).
- `RemoteApi`: an external API with the latency its tier states and no capacity limit.
- `Prometheus`: scrapes the pods' `vllm:num_requests_waiting` (and KV-cache use) and the
  gateway's demand counter every `interval` seconds; the KEDA triggers read its last samples.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from capacity.workload import Size
from tiergate_sim._engine import Engine
from tiergate_sim.knobs import EngineConfig

DEFAULT_PORT: Final = 8000


@dataclass(frozen=True, slots=True)
class ReplicaModel:
    """One vLLM replica's performance (the defaults: Llama-3.1-8B in bf16 on one 24 GB GPU)."""

    max_num_seqs: int = 32
    kv_blocks: int = 2048
    """KV-cache capacity in blocks (`--num-gpu-blocks-override`): 2,048 x 16 = 32,768 tokens."""
    block_size: int = 16
    ttft_ms: float = 90.0
    """Scheduling and the first decode step (the tier's stated prior)."""
    prefill_tps: float = 4000.0
    decode_tps: float = 30.0
    """Tokens per second per sequence with the batch full."""

    def engine_config(self) -> EngineConfig:
        """The simulator's engine settings for this replica."""
        return EngineConfig(
            max_num_seqs=self.max_num_seqs, block_size=self.block_size, num_gpu_blocks_override=self.kv_blocks
        )

    def first_token_seconds(self, prompt_tokens: int) -> float:
        """From admission to the first token."""
        return self.ttft_ms / 1000 + prompt_tokens / self.prefill_tps

    def decode_seconds(self, answer_tokens: int) -> float:
        """From the first token to the last."""
        return answer_tokens / self.decode_tps

    def capacity_rps(self, mean: Size) -> float:
        """Requests per second one replica serves with every slot busy (sequences at once / service time)."""
        blocks = math.ceil((mean.prompt_tokens + mean.answer_tokens) / self.block_size)
        at_once = min(self.max_num_seqs, self.kv_blocks // blocks)
        service = self.first_token_seconds(mean.prompt_tokens) + self.decode_seconds(mean.answer_tokens)
        return at_once / service


@dataclass(eq=False)
class Pod:
    """One replica of the tier."""

    address: str
    """host:port."""
    created_at: float
    ready_at: float
    engine: Engine
    up: bool = False
    """Its server answers (set when the cold start ends, so no clock arithmetic decides it)."""
    deleted_at: float | None = None
    in_flight: int = 0
    last_answer_end: float = 0.0

    @property
    def ready(self) -> bool:
        """Serving: started and not deleted."""
        return self.up and self.deleted_at is None

    def billed_seconds(self, start: float, end: float) -> float:
        """Seconds of [start, end) during which the pod held its GPU."""
        released = end if self.deleted_at is None else max(self.deleted_at, self.last_answer_end)
        return max(0.0, min(released, end) - max(self.created_at, start))


@dataclass(frozen=True, slots=True)
class Write:
    """One write of the Deployment's `spec.replicas`."""

    at: float
    before: int
    after: int
    writer: str


class Deployment:
    """The tier's Deployment: `spec.replicas`, its pods, their cold starts (a KEDA `ScaleTarget`)."""

    def __init__(
        self,
        model: ReplicaModel,
        now: Callable[[], float],
        *,
        cold_start: tuple[float, float],
        rng: random.Random,
        watch_delay: float = 1.0,
    ) -> None:
        self.model = model
        self.now = now
        self.cold_start = cold_start
        self.rng = rng
        self.watch_delay = watch_delay
        self.replicas = 0
        self.pods: list[Pod] = []
        """Pods not deleted, oldest first."""
        self.every_pod: list[Pod] = []
        self.by_address: dict[str, Pod] = {}
        self.writes: list[Write] = []
        self.cold_starts: list[float] = []
        """Seconds each pod took to become ready."""
        self.spec_listeners: list[Callable[[int], None]] = []
        self.endpoint_listeners: list[Callable[[list[str]], None]] = []
        self._serial = 0

    # ---- the /scale subresource -------------------------------------------------------------------

    async def get_replicas(self) -> int:
        return self.replicas

    async def set_replicas(self, replicas: int) -> None:
        self.write(replicas, "keda")

    def write(self, replicas: int, writer: str) -> None:
        """Set `spec.replicas` (the ReplicaSet follows at once)."""
        if replicas == self.replicas:
            return
        self.writes.append(Write(self.now(), self.replicas, replicas, writer))
        self.replicas = replicas
        self._reconcile()
        self._tell(self.spec_listeners, replicas)

    def start_ready(self, replicas: int) -> None:
        """Begin with `replicas` pods already ready (a pool that has been running)."""
        self.replicas = replicas
        now = self.now()
        for _ in range(replicas):
            self._add_pod(now, ready_at=now)
        self._endpoints_changed()

    # ---- pods ---------------------------------------------------------------------------------------

    def ready_addresses(self) -> list[str]:
        """host:port of the ready pods (what the Service's EndpointSlices list)."""
        return [pod.address for pod in self.pods if pod.ready]

    def gpu_seconds(self, start: float, end: float) -> float:
        """Pod-seconds of GPU time within [start, end) (one GPU per pod)."""
        return sum(pod.billed_seconds(start, end) for pod in self.every_pod)

    def _reconcile(self) -> None:
        now = self.now()
        while len(self.pods) < self.replicas:
            low, high = self.cold_start
            self._add_pod(now, ready_at=now + self.rng.uniform(low, high))
        if len(self.pods) > self.replicas:
            # A ReplicaSet deletes pods that are not ready first, then the most recently ready.
            ranked = sorted(self.pods, key=lambda p: (p.ready, -p.ready_at))
            doomed = ranked[: len(self.pods) - self.replicas]
            served = any(pod.ready for pod in doomed)
            for pod in doomed:
                pod.deleted_at = now
            self.pods = [pod for pod in self.pods if pod.deleted_at is None]
            if served:
                self._endpoints_changed()

    def _add_pod(self, now: float, *, ready_at: float) -> None:
        self._serial += 1
        address = f"10.1.{self._serial // 250}.{self._serial % 250 + 1}:{DEFAULT_PORT}"
        pod = Pod(address, now, ready_at, Engine(self.model.engine_config()))
        self.pods.append(pod)
        self.every_pod.append(pod)
        self.by_address[address] = pod
        if ready_at > now:
            asyncio.get_running_loop().call_later(ready_at - now, self._pod_ready, pod)
        else:
            pod.up = True

    def _pod_ready(self, pod: Pod) -> None:
        if pod.deleted_at is None:
            pod.up = True
            self.cold_starts.append(pod.ready_at - pod.created_at)
            self._endpoints_changed()

    def _endpoints_changed(self) -> None:
        self._tell(self.endpoint_listeners, self.ready_addresses())

    def _tell[T](self, listeners: list[Callable[[T], None]], value: T) -> None:
        if not listeners:
            return
        loop = asyncio.get_running_loop()
        for listener in listeners:
            if self.watch_delay > 0:
                loop.call_later(self.watch_delay, listener, value)
            else:
                listener(value)


@dataclass(frozen=True, slots=True)
class RemoteApi:
    """An external API: the latency its tier states, no queue, no capacity limit."""

    host: str
    ttft_ms: float
    tokens_per_second: float

    def first_token_seconds(self) -> float:
        return self.ttft_ms / 1000

    def decode_seconds(self, answer_tokens: int) -> float:
        return answer_tokens / self.tokens_per_second


@dataclass
class Prometheus:
    """Scrapes the pods' vLLM gauges and the gateway's demand counter every `interval` seconds."""

    deployment: Deployment
    interval: float = 15.0
    window: float = 600.0
    """The demand trigger's range (`increase(...[window])`): the tier's demand window."""
    waiting: float = 0.0
    kv_percent: float = 0.0
    demand_total: int = 0
    """The gateway's `tiergate_tier_demand_total` for the tier, now (not a sample)."""
    _demand_samples: deque[tuple[float, int]] = field(default_factory=deque)

    def count_demand(self) -> None:
        """The gateway counted a request that wanted the tier."""
        self.demand_total += 1

    def scrape(self, now: float) -> None:
        """One scrape: the pods that serve (a starting vLLM has no /metrics yet) and the gateway."""
        pods = [pod for pod in self.deployment.pods if pod.ready]
        self.waiting = float(sum(pod.engine.waiting for pod in pods))
        self.kv_percent = 100.0 * sum(pod.engine.pool.usage for pod in pods)
        samples = self._demand_samples
        samples.append((now, self.demand_total))
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()

    def demand_increase(self) -> float:
        """`increase(tiergate_tier_demand_total[window])` over the samples kept."""
        samples = self._demand_samples
        return float(samples[-1][1] - samples[0][1]) if samples else 0.0

    async def run(self, now: Callable[[], float]) -> None:
        """Scrape forever (cancel to stop)."""
        while True:
            self.scrape(now())
            await asyncio.sleep(self.interval)
