"""ModelTier: one model a request can be routed to, and how it is served.

A tier is either in-cluster (`vllm`, managed by the operator, always Local) or reachable
by URL (`endpoint`, an external API or an existing server). The CRD in `crds/` is
generated from these models (`make crds`), so field docstrings are the API reference.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from tiergate_api.autoscaling import Autoscaling
from tiergate_api.base import ApiModel, Bool, Int, ObjectName
from tiergate_api.conditions import Condition
from tiergate_api.constants import API_VERSION, DEFAULT_GPU_RESOURCE, MODEL_TIER_KIND
from tiergate_api.enums import Feature, Locality, Task
from tiergate_api.metadata import ObjectMeta
from tiergate_api.quantities import DECIMAL_PATTERN, SIZE_PATTERN, parse_size, parse_usd
from tiergate_api.replicapicking import DEFAULT_REPLICA_PICKING, ReplicaPicking
from tiergate_api.schema_extras import FreeForm, Quantity, RuleViolationError, cel, list_map, list_set, validations
from tiergate_api.urls import ENDPOINT_URL_PATTERN, ENDPOINT_URL_RULE, check_endpoint_url

UsdString = Annotated[str, StringConstraints(max_length=20, pattern=DECIMAL_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
EndpointUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(check_endpoint_url),
    WithJsonSchema(
        {"type": "string", "maxLength": 2048, "pattern": ENDPOINT_URL_PATTERN} | validations(ENDPOINT_URL_RULE)
    ),
]
"""An http(s) URL a tier may be reached at (see tiergate_api.urls for the rules)."""

MAX_REPLICA_URLS: Final = 1024
"""Most URLs in spec.endpoint.urls; replicas found in EndpointSlices are not bounded by it."""


def _distinct_urls(urls: list[str]) -> list[str]:
    """The list unchanged when no URL repeats; the error names the index, never the URL (it may hold a key)."""
    first: dict[str, int] = {}
    for index, url in enumerate(urls):
        if url in first:
            raise RuleViolationError(f"duplicate URL: the same as item {first[url]}", str(index))
        first[url] = index
    return urls


ReplicaUrls = Annotated[
    list[EndpointUrl],
    Field(min_length=1, max_length=MAX_REPLICA_URLS, json_schema_extra={"x-kubernetes-list-type": "set"}),
    AfterValidator(_distinct_urls),
]
"""Base URLs of a tier's replicas: at least one, none twice."""


ENDPOINT_URL_AND_URLS: Final = "set either url or urls, not both"
ENDPOINT_URL_OR_URLS: Final = "set url (one server) or urls (one per replica)"


class SecretKeyRef(ApiModel):
    """A key in a Secret of the tier's namespace."""

    name: ObjectName
    """Name of the Secret."""
    key: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
    """Key within the Secret's data."""


class Capabilities(ApiModel):
    """What the model does well; the gateway routes only capable requests to it."""

    tasks: Annotated[list[Task], *list_set(7)] = []
    """Task types the tier handles well. Empty: every task whose size band starts at or below the tier's size."""
    max_context_tokens: Annotated[Int | None, Field(ge=1, le=100_000_000)] = None
    """Context window in tokens; prompt plus max_tokens must fit. Unset: vllm.maxModelLen, else unlimited."""
    features: Annotated[list[Feature], *list_set(8)] = []
    """Optional request features the tier supports (Streaming, Tools, JSONMode, Vision)."""


class Cost(ApiModel):
    """Prices in USD per million tokens, as decimal strings (never floats)."""

    input_per_million_tokens: UsdString = "0"
    """USD per million prompt tokens, for example "0.15"."""
    output_per_million_tokens: UsdString = "0"
    """USD per million completion tokens, for example "0.60"."""

    @property
    def input_price(self) -> Decimal:
        """USD per million prompt tokens."""
        return parse_usd(self.input_per_million_tokens)

    @property
    def output_price(self) -> Decimal:
        """USD per million completion tokens."""
        return parse_usd(self.output_per_million_tokens)


class LatencyPriors(ApiModel):
    """Expected latency before live measurements exist; the gateway learns real figures."""

    ttft_milliseconds: Annotated[Int | None, Field(ge=0, le=600_000)] = None
    """Expected time to first token, in milliseconds."""
    tokens_per_second: Annotated[Int | None, Field(ge=1, le=1_000_000)] = None
    """Expected generation speed, in output tokens per second."""


class TierLimits(ApiModel):
    """Limits the gateway enforces before sending, so a provider limit becomes a planned fallback."""

    requests_per_minute: Annotated[Int | None, Field(ge=1, le=10_000_000)] = None
    """Requests per minute this tier accepts (for example a provider's rate limit)."""
    tokens_per_minute: Annotated[Int | None, Field(ge=1, le=1_000_000_000)] = None
    """Prompt plus completion tokens per minute this tier accepts."""
    max_in_flight: Annotated[Int | None, Field(ge=1, le=100_000)] = None
    """Requests in flight at once per gateway; further requests overflow to the next tier."""


class TolerationOperator(StrEnum):
    """How a toleration matches a taint."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    """The taint effect a toleration matches."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """A Kubernetes pod toleration, so pods may run on tainted GPU nodes."""

    key: Annotated[str | None, StringConstraints(max_length=316)] = None
    """Taint key to match; empty with operator Exists matches every taint."""
    operator: TolerationOperator | None = None
    """Exists or Equal (the default)."""
    value: Annotated[str | None, StringConstraints(max_length=63)] = None
    """Taint value to match with operator Equal."""
    effect: TaintEffect | None = None
    """Taint effect to match; empty matches all effects."""
    toleration_seconds: Int | None = None
    """For NoExecute: how long the pod stays bound after the taint appears."""


class NodePool(ApiModel):
    """Where the vLLM pods may run: the node pool's labels and taints."""

    node_selector: dict[str, LabelValue] = {}
    """Node labels the pods require, for example tiergate.io/pool: gpu-small."""
    tolerations: Annotated[list[Toleration], Field(max_length=32)] = []
    """Tolerations for the pool's taints (the nvidia.com/gpu toleration is added when GPUs are requested)."""


class Gpu(ApiModel):
    """GPUs per replica."""

    count: Annotated[Int, Field(ge=0, le=16)] = 1
    """GPUs per pod; 0 runs vLLM (or a stand-in) on CPU, as on kind and in tests."""
    resource_name: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9.\-]+/[a-z0-9.\-]+$")
    ] = DEFAULT_GPU_RESOURCE
    """Extended resource name of the GPU, for example nvidia.com/gpu or amd.com/gpu."""


class Dtype(StrEnum):
    """vLLM's --dtype values."""

    AUTO = "auto"
    HALF = "half"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    FLOAT = "float"
    FLOAT32 = "float32"


class EnvVar(ApiModel):
    """An environment variable for the vLLM container, as in a Kubernetes container spec."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    """Variable name."""
    value: Annotated[str | None, StringConstraints(max_length=32768)] = None
    """Literal value."""
    value_from: FreeForm | None = None
    """Source of the value (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), as in Kubernetes."""


class Resources(ApiModel):
    """CPU and memory requests and limits for the vLLM container (GPUs come from gpu)."""

    limits: dict[str, Quantity] = {}
    """Maximum amounts, for example cpu: 8, memory: 64Gi."""
    requests: dict[str, Quantity] = {}
    """Guaranteed amounts, for example cpu: 4, memory: 32Gi."""


class AccessMode(StrEnum):
    """PersistentVolumeClaim access modes."""

    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_MANY = "ReadWriteMany"
    READ_ONLY_MANY = "ReadOnlyMany"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"


class ModelCache(ApiModel):
    """A PersistentVolumeClaim for downloaded weights, so restarts do not download again."""

    size: Annotated[str, StringConstraints(max_length=64, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")]
    """Storage to request, for example 50Gi."""
    storage_class_name: Annotated[str | None, StringConstraints(max_length=253)] = None
    """StorageClass of the claim; unset uses the cluster default."""
    access_mode: AccessMode = AccessMode.READ_WRITE_ONCE
    """Access mode of the claim; ReadWriteMany lets replicas on several nodes share it."""


class VllmBackend(ApiModel):
    """An in-cluster vLLM server that the operator runs as a Deployment and a Service."""

    image: Annotated[str | None, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")] = None
    """Container image; unset uses the operator's pinned vllm/vllm-openai default."""
    replicas: Annotated[Int, Field(ge=0, le=128)] = 1
    """Number of vLLM pods; ignored when autoscaling is set."""
    autoscaling: Autoscaling | None = None
    """Scale the pods with demand (KEDA), down to zero when minReplicas is 0; unset runs replicas pods."""
    node_pool: NodePool | None = None
    """Node selector and tolerations of the GPU node pool to run on."""
    gpu: Gpu = Field(default_factory=Gpu, json_schema_extra={"default": {}})
    """GPUs per pod and their resource name."""
    tensor_parallel_size: Annotated[Int, Field(ge=1, le=64)] = 1
    """vLLM --tensor-parallel-size: GPUs one model copy is split across."""
    max_model_len: Annotated[Int | None, Field(ge=1, le=100_000_000)] = None
    """vLLM --max-model-len: the context length served."""
    gpu_memory_utilization_percent: Annotated[Int, Field(ge=1, le=100)] = 90
    """vLLM --gpu-memory-utilization as a percent (90 means 0.9)."""
    dtype: Dtype = Dtype.AUTO
    """vLLM --dtype."""
    quantization: Annotated[str | None, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")] = (
        None
    )
    """vLLM --quantization method, for example awq, gptq or fp8."""
    extra_args: Annotated[list[Annotated[str, StringConstraints(max_length=4096)]], Field(max_length=128)] = []
    """Further vLLM command-line arguments, passed through after the generated ones."""
    env: Annotated[list[EnvVar], *list_map("name", 128)] = []
    """Environment variables for the vLLM container."""
    resources: Resources | None = None
    """CPU and memory requests and limits."""
    model_cache: ModelCache | None = None
    """Persistent model cache; unset caches in an emptyDir that lives as long as the pod."""
    hf_token_secret_ref: SecretKeyRef | None = None
    """Secret key holding a Hugging Face token, exposed to vLLM as HF_TOKEN."""
    startup_timeout_seconds: Annotated[Int | None, Field(ge=30, le=86_400)] = None
    """How long the startup probe waits for the model to load; unset uses the operator's default."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.gpu.count == 0 || self.tensorParallelSize <= self.gpu.count",
                "tensorParallelSize cannot exceed gpu.count",
                field_path=".tensorParallelSize",
            )
        )
    )

    @model_validator(mode="after")
    def _tensor_parallel_fits_gpus(self) -> Self:
        if self.gpu.count and self.tensor_parallel_size > self.gpu.count:
            raise RuleViolationError("tensorParallelSize cannot exceed gpu.count", "tensorParallelSize")
        return self


class EndpointBackend(ApiModel):
    """A model server reachable by URL: an external API, an existing server, or a pool of replicas."""

    url: EndpointUrl | None = None
    """Base URL of the OpenAI-compatible API, ending before /chat/completions, for example https://api.openai.com/v1.

    http or https, a host and an optional port; no spaces, control characters or user:password@ (see apiKeySecretRef).

    A non-ASCII host (bücher.example) is sent IDNA-encoded; percent-encode non-ASCII in the path (ü as %C3%BC).

    Exactly one of url or urls."""
    urls: ReplicaUrls | None = None
    """Base URLs of a pool of replicas, one per replica, each written as url is (1 to 1024 of them, none twice).

    Every replica serves the same model with the same key (apiKeySecretRef and timeoutSeconds apply to each).

    The gateway picks one per request as spec.replicaPicking says. Exactly one of url or urls."""
    locality: Locality = Locality.REMOTE
    """Local when the server runs in the cluster (it may then end a fallback chain), else Remote."""
    api_key_secret_ref: SecretKeyRef | None = None
    """Secret key holding the API key, sent as a Bearer token. Never put keys in the spec."""
    timeout_seconds: Annotated[Int, Field(ge=1, le=3600)] = 60
    """Upper bound for one request to this tier, in seconds."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("!has(self.url) || !has(self.urls)", ENDPOINT_URL_AND_URLS),
            cel("has(self.url) || has(self.urls)", ENDPOINT_URL_OR_URLS),
        )
    )

    @model_validator(mode="after")
    def _url_or_urls(self) -> Self:
        if self.url is not None and self.urls is not None:
            raise ValueError(ENDPOINT_URL_AND_URLS)
        if self.url is None and self.urls is None:
            raise ValueError(ENDPOINT_URL_OR_URLS)
        return self

    def replica_urls(self) -> list[str]:
        """The base URL of every replica, as written: [url], or urls in their order."""
        return [self.url] if self.url is not None else list(self.urls or ())


class ModelTierSpec(ApiModel):
    """The desired state of a ModelTier."""

    model: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^\S+$")]
    """Model id the backend serves: the Hugging Face id for vllm, the API's model name otherwise."""
    size: Annotated[str, StringConstraints(max_length=16, pattern=SIZE_PATTERN)]
    """Parameter count: a number and M, B or T, for example 1.5B; decides default capabilities."""
    capabilities: Capabilities = Field(default_factory=Capabilities, json_schema_extra={"default": {}})
    """Tasks, context window and features the tier handles."""
    cost: Cost = Field(default_factory=Cost, json_schema_extra={"default": {}})
    """Prices used for cost routing and budgets."""
    latency: LatencyPriors | None = None
    """Latency priors used until live figures exist."""
    limits: TierLimits | None = None
    """Rate and concurrency limits the gateway enforces for this tier."""
    vllm: VllmBackend | None = None
    """Run the model in the cluster with vLLM (locality Local). Exactly one of vllm or endpoint."""
    endpoint: EndpointBackend | None = None
    """Reach the model by URL. Exactly one of vllm or endpoint."""
    replica_picking: ReplicaPicking | None = None
    """How the gateway spreads requests over the tier's replicas (vllm pods or endpoint urls); unset uses the defaults.

    Has no effect on a tier with one replica."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.vllm) != has(self.endpoint)", "exactly one of spec.vllm or spec.endpoint must be set")
        )
    )

    @model_validator(mode="after")
    def _exactly_one_backend(self) -> Self:
        if (self.vllm is None) == (self.endpoint is None):
            raise ValueError("exactly one of spec.vllm or spec.endpoint must be set")
        return self

    @property
    def parameters(self) -> int:
        """Parameter count parsed from `size`."""
        return parse_size(self.size)

    @property
    def effective_replica_picking(self) -> ReplicaPicking:
        """replicaPicking, or the defaults when the tier gives none."""
        return self.replica_picking if self.replica_picking is not None else DEFAULT_REPLICA_PICKING

    @property
    def locality(self) -> Locality:
        """Local for vllm tiers; the endpoint's declared locality otherwise."""
        return Locality.LOCAL if self.vllm is not None else self.endpoint.locality  # type: ignore[union-attr]


class ModelTierStatus(ApiModel):
    """The observed state of a ModelTier, written by the operator."""

    observed_generation: Annotated[Int | None, Field(ge=0)] = None
    """The metadata.generation the status was computed from."""
    conditions: Annotated[list[Condition], *list_map("type", 16)] = []
    """Ready (summary), Available, Progressing, Degraded, ResolvedRefs and Autoscaling, as they apply."""
    endpoint: EndpointUrl | None = None
    """The URL the gateway sends requests to."""
    locality: Locality | None = None
    """Local or Remote."""
    replicas: Annotated[Int | None, Field(ge=0)] = None
    """vLLM pods desired: spec.vllm.replicas, or what the autoscaler last chose."""
    ready_replicas: Annotated[Int | None, Field(ge=0)] = None
    """vLLM pods ready to serve."""
    scaled_to_zero: Bool | None = None
    """True while an autoscaled tier has no pod desired; its requests fall back until it starts again."""


class ModelTier(ApiModel):
    """A ModelTier resource as stored by the API server or written in a YAML file."""

    api_version: Literal["tiergate.io/v1alpha1"] = API_VERSION
    kind: Literal["ModelTier"] = MODEL_TIER_KIND
    metadata: ObjectMeta
    spec: ModelTierSpec
    status: ModelTierStatus | None = None

    model_config = ConfigDict(extra="ignore")
