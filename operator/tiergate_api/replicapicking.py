"""Replica picking: how the gateway spreads one tier's requests over the tier's replicas.

A tier has several replicas when its vllm backend runs several pods (the gateway finds the ready
ones in the EndpointSlices of the tier's Service) or its endpoint lists several `urls`. For each
request the gateway scores every usable replica and sends the request to the best one:

- **queue**: the replica's load, the requests this gateway has in flight to it plus the waiting
  queue its metrics report (`vllm:num_requests_waiting`); less load scores higher.
- **kvCache**: the replica's free KV cache (`1 - vllm:kv_cache_usage_perc`); unknown is neutral.
- **prefixAffinity**: the share of the prompt's leading blocks the replica recently served, so
  its prefix cache likely holds them; ignored for a replica whose load exceeds the load bound
  (`affinityLoadBoundPercent` of the mean), so one hot prefix cannot pile onto one replica.

The settings live on the ModelTier (`spec.replicaPicking`), not on the policy: they describe the
tier's servers (their cache, their metrics), and every policy that routes to a tier must send a
prompt to the same replica, or prefix affinity would scatter what it means to gather. The
defaults here are the gateway's defaults too (`DEFAULT_REPLICA_PICKING`).
"""

from __future__ import annotations

from typing import Annotated, Final, Self

from pydantic import ConfigDict, Field, model_validator

from tiergate_api.base import ApiModel, Int
from tiergate_api.schema_extras import cel, validations

DEFAULT_QUEUE_WEIGHT: Final = 50
DEFAULT_KV_CACHE_WEIGHT: Final = 20
DEFAULT_PREFIX_AFFINITY_WEIGHT: Final = 30
DEFAULT_PREFIX_BLOCK_TOKENS: Final = 64
DEFAULT_AFFINITY_LOAD_BOUND_PERCENT: Final = 125
DEFAULT_METRICS_SCRAPE_INTERVAL_MILLISECONDS: Final = 1000

ReplicaWeight = Annotated[Int, Field(ge=0, le=100)]


class ReplicaWeights(ApiModel):
    """Relative weights of the replica scorers; only their proportions matter, and 0 turns one off."""

    queue: ReplicaWeight = DEFAULT_QUEUE_WEIGHT
    """Weight of load: requests in flight from this gateway plus the replica's waiting queue (less scores higher)."""
    kv_cache: ReplicaWeight = DEFAULT_KV_CACHE_WEIGHT
    """Weight of free KV cache, from the replica's vllm:kv_cache_usage_perc (more free scores higher)."""
    prefix_affinity: ReplicaWeight = DEFAULT_PREFIX_AFFINITY_WEIGHT
    """Weight of prefix affinity: the share of the prompt's leading blocks the replica recently served."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.queue + self.kvCache + self.prefixAffinity > 0", "replica weights must sum to more than zero")
        )
    )

    @model_validator(mode="after")
    def _positive_sum(self) -> Self:
        if self.queue + self.kv_cache + self.prefix_affinity <= 0:
            raise ValueError("replica weights must sum to more than zero")
        return self


class ReplicaPicking(ApiModel):
    """How the gateway picks one of the tier's replicas for each request; unset fields take their defaults."""

    weights: ReplicaWeights = Field(default_factory=ReplicaWeights, json_schema_extra={"default": {}})
    """Weights of the queue, kvCache and prefixAffinity scorers (default 50, 20 and 30)."""
    prefix_block_tokens: Annotated[Int, Field(ge=8, le=4096)] = DEFAULT_PREFIX_BLOCK_TOKENS
    """Block size, in tokens, in which the gateway hashes prompts for prefix affinity.

    Two prompts share a block only if they share everything up to its end, as in vLLM's prefix cache.

    It need not equal vLLM's --block-size (16 by default), but a multiple of it is best.

    Smaller blocks tell prefixes apart more finely and cost more hashing per request."""
    affinity_load_bound_percent: Annotated[Int, Field(ge=100, le=1000)] = DEFAULT_AFFINITY_LOAD_BOUND_PERCENT
    """Most load a replica may carry and still attract its prefixes, as a percent of the replicas' mean load.

    Above it (plus one request), prefix affinity is ignored for that replica, so a hot prefix cannot overload it.

    125 lets a replica take 1.25 times the mean load, as in consistent hashing with bounded loads."""
    metrics_scrape_interval_milliseconds: Annotated[Int, Field(ge=100, le=60_000)] = (
        DEFAULT_METRICS_SCRAPE_INTERVAL_MILLISECONDS
    )
    """How often the gateway reads each replica's /metrics (waiting queue, KV-cache usage), in milliseconds.

    The cost grows with the number of replicas; stale figures count as unknown."""


DEFAULT_REPLICA_PICKING: Final = ReplicaPicking()
"""The settings of a tier that gives no spec.replicaPicking."""
