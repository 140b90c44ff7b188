"""Names vulture reports as unused that are used, each with what uses it.

The dead-code check (`make lint`):

    vulture operator gateway cli sim scripts/vulture_whitelist.py --min-confidence 60

Vulture finds code that nothing in those folders calls. Some code is called by what vulture cannot
see: a decorator registers it (FastAPI routes, Kopf handlers, pydantic validators), a library calls
it by its protocol's name (asyncio, httptools, uvicorn), a string names it, serialisation reads it,
or only scripts/ and tests/ use it. Only such names belong here; dead code is deleted instead.

Vulture matches names, not places: an entry keeps alive every definition of that name in the
scanned folders, so an entry is a name that is used, never a way to keep one that is not. Vulture
reads this file; running it does nothing.
"""

from __future__ import annotations


class _Used:
    """Every attribute is this object again: an entry only has to name what is used."""

    def __getattr__(self, _name: str) -> _Used:
        return self


used = _Used()

# Registered by a decorator and called by the framework.
_: tuple[object, ...] = (
    used.healthz,  # GET /healthz, @router.get (gateway server/api/health.py)
    used.readyz,  # GET /readyz, @router.get (server/api/health.py)
    used.prometheus_metrics,  # GET /metrics, @router.get (server/api/metrics.py)
    used.list_models,  # GET /v1/models, @router.get (server/api/models.py)
    used.retrieve_model,  # GET /v1/models/{id}, @router.get (server/api/models.py)
    used.gateway_error,  # @app.exception_handler(GatewayError) (server/app.py)
    used.http_error,  # @app.exception_handler(HTTPException) (server/app.py)
    used.validation_error,  # @app.exception_handler(RequestValidationError) (server/app.py)
    used.client_gone,  # @app.exception_handler(ClientGone) (server/app.py)
    used.unexpected,  # @app.exception_handler(Exception) (server/app.py)
    used.probe_tiers,  # @kopf.on.probe: the operator's liveness figure (tiergate_operator/handlers.py)
    used.tier_worker,  # @kopf.daemon per ModelTier (handlers.py)
    used.policy_worker,  # @kopf.daemon per RoutingPolicy (handlers.py)
    used.tier_changed,  # @kopf.on.event for ModelTiers (handlers.py)
    used.policy_changed,  # @kopf.on.event for RoutingPolicies (handlers.py)
    used.child_changed,  # @kopf.on.event for Deployments, Services, PVCs (handlers.py)
    used.pod_changed,  # @kopf.on.event for the tiers' pods (handlers.py)
    used.secret_changed,  # @kopf.on.event for Secrets (handlers.py)
    used._tensor_parallel_fits_gpus,  # @model_validator of VllmBackend (tiergate_api/modeltier.py)
    used._url_or_urls,  # @model_validator of EndpointBackend (modeltier.py)
    used._min_within_max,  # @model_validator of Autoscaling (tiergate_api/autoscaling.py)
    used._exactly_one_backend,  # @model_validator of ModelTierSpec (modeltier.py)
    used._positive_sum,  # @model_validator of Weights (routingpolicy.py) and ReplicaWeights (replicapicking.py)
    used._weights_only_with_hybrid,  # @model_validator of RoutingPolicySpec (routingpolicy.py)
    used._checked,  # @model_validator of the classifier's cue-file models (gateway core/_classify_vocabulary.py)
)

# Called by a library through its protocol.
_ = (
    used.connection_made,  # asyncio.Protocol (upstream/http11.py)
    used.data_received,  # asyncio.Protocol (upstream/http11.py; server/serverproto.py overrides uvicorn's)
    used.eof_received,  # asyncio.Protocol (upstream/http11.py)
    used.on_header,  # httptools.HttpResponseParser callback (upstream/http11.py)
    used.on_body,  # httptools.HttpResponseParser callback (upstream/http11.py)
    used.on_message_complete,  # httptools.HttpResponseParser callback (upstream/http11.py)
    used.timeout_keep_alive_task,  # uvicorn's HttpToolsProtocol cancels it in connection_lost (server/serverproto.py)
    used.indentless,  # PyYAML passes it to increase_indent, which yamlio._Dumper overrides (tiergate_api/yamlio.py)
    used.tb,  # __exit__'s third parameter (sim/tiergate_demo/process.py)
    used.exc_type,  # __exit__'s first parameter (sim/tiergate_sim/process.py)
    used.traceback,  # __exit__'s third parameter (sim/tiergate_sim/process.py)
    used.__class__,  # assigned to swap an argparse parser's class (sim/tiergate_sim/cli.py)
)

# Read by configuration or serialisation.
_ = (
    used.model_config,  # pydantic and pydantic-settings read every model's and settings class's config
    used.finalizer,  # kopf.OperatorSettings, read by Kopf (tiergate_operator/handlers.configure_kopf)
    used.progress_storage,  # kopf.OperatorSettings (handlers.configure_kopf)
    used.diffbase_storage,  # kopf.OperatorSettings (handlers.configure_kopf)
    used.loggers,  # kopf.OperatorSettings (handlers.configure_kopf)
    used.server_timeout,  # kopf.OperatorSettings (handlers.configure_kopf)
    used.client_timeout,  # kopf.OperatorSettings (handlers.configure_kopf)
    used.api_version,  # ModelTier and RoutingPolicy field: pydantic checks a document's apiVersion against it
    used.operator,  # Toleration field, written into the pod spec by Toleration.to_wire (modeltier.py)
    used.effect,  # Toleration field, as above
    used.toleration_seconds,  # Toleration field, as above
    used.value_from,  # EnvVar field, written into the container's env by EnvVar.to_wire (modeltier.py)
    # Enum members a ModelTier may hold: pydantic parses the YAML value into them and the CRD lists them.
    used.EXISTS,  # TolerationOperator
    used.EQUAL,  # TolerationOperator
    used.NO_SCHEDULE,  # TaintEffect
    used.PREFER_NO_SCHEDULE,  # TaintEffect
    used.NO_EXECUTE,  # TaintEffect
    used.HALF,  # vLLM --dtype
    used.FLOAT16,  # vLLM --dtype
    used.BFLOAT16,  # vLLM --dtype
    used.FLOAT,  # vLLM --dtype
    used.FLOAT32,  # vLLM --dtype
    used.READ_WRITE_MANY,  # AccessMode of the model cache's PersistentVolumeClaim
    used.READ_ONLY_MANY,  # AccessMode, as above
)

# Named by a string.
_ = (
    used.create_app_from_env,  # uvicorn --factory "tiergate_gateway.server.app:create_app_from_env" (server/cli.py)
    used.CoalescingHttpToolsProtocol,  # uvicorn http="tiergate_gateway.server.serverproto:..." (server/cli.py)
)

# Used from outside the scanned folders.
_ = (
    used.KINDS,  # scripts/generate_crds.py (`make crds`) writes crds/ for each of them (tiergate_api/crd.py)
    used.build_crd,  # scripts/generate_crds.py, as above
    used.skip_reason,  # Plan.skip_reason: tests/unit/test_routing.py asserts a tier's skip through it
    used.open_connections,  # Pool.open_connections: tests/gateway/test_http11.py asserts the pool through it
    used.annotations,  # ObjectMeta.annotations: parsed with the object, part of the model's metadata users write
    used.scaled_to_zero,  # ModelTierStatus.scaledToZero: the operator writes it as a dict; kubectl's Zero column
    used.reversed_wakes,  # ColdStarts.reversed_wakes: reported by bench/capacity, asserted by tests/unit
    # tiergate_sim.keda: the model of KEDA that bench/capacity and tests/operator/test_autoscaling_no_fight.py drive
    used.KedaModel,
    used.from_autoscaling,
    used.move,
    used.flaps,
    used.MIN,  # SelectPolicy.MIN: an HPA behaviour value the model accepts
    used.wall,  # VirtualClock.wall: the dispatcher's clock in tests/fake_upstream.py and bench/capacity
)
