"""A Kubernetes API server TEST DOUBLE for TierGate's integration tests.

Not a cluster and not production code: an in-memory emulation, built on
`kmock.KubernetesEmulator`, of the API semantics our operator, our gateway and
`kubectl` rely on (metadata bookkeeping, the status subresource, CRD schema and
CEL validation with defaults and pruning, selectors, optimistic concurrency,
finalizers, garbage collection, resumable watches, discovery, OpenAPI v3,
tables, field validation, dry runs, server-side apply). What it leaves out, such
as controllers (no Deployment ever becomes ready by itself), admission webhooks,
RBAC, protobuf, built-in kind schemas and strategic-merge list semantics, is for
the `e2e` tests on a real cluster to cover. docs/emulator.md has the details;
`python -m harness --port 8001 --crds crds/` serves it by hand.

Usage (the fixture comes from `tests/conftest.py`)::

    def test_reconcile_is_idempotent(kube_emulator):
        kube_emulator.create(tier_manifest)            # direct, not in the request log
        run_operator(kubeconfig=kube_emulator.kubeconfig_path)
        assert kube_emulator.get("deployments", "qwen-vllm", namespace="default")
        kube_emulator.clear_requests()
        run_operator_again(...)
        assert kube_emulator.writes() == []            # nothing was PUT/PATCHed/POSTed/DELETEd

    kube_emulator.stop(); ...; kube_emulator.start()   # an API outage, same port and objects
    kube_emulator.api["get", "/api/v1/namespaces/default/secrets"][:1] << 503  # one failed GET

Layout:
    resources   served resource types, built-ins, CRD loading
    paths       request path parsing (fixes kmock 0.8 for /api/v1/namespaces...)
    selectors   label and field selectors
    patching    merge, JSON, strategic-merge and apply patches
    scale       the `scale` subresource of Deployments (autoscaling/v1 Scale)
    schema      structural schema: pruning, defaulting, OpenAPI validation
    cel         x-kubernetes-validations with cel-python
    admission   what runs on every write before storing
    errors      Status failures in the apiserver's words
    store       objects and write semantics
    watching    the watch event log: resume, compaction (410), selectors
    apply       server-side apply: merging by list type, managedFields, conflicts
    discovery   /api, /apis (legacy and aggregated), /version
    openapi     /openapi/v3 documents from the CRD schemas (kubectl explain, field validation)
    jsonpath    kubectl's JSONPath dialect, for printer columns
    tables      Table responses for kubectl get
    emulator    the kmock handler: HTTP wiring
    runtime     the background-thread server, sync helpers, kubeconfig
    fixtures    the `kube_emulator` pytest fixture
    __main__    `python -m harness`: serve it by hand
"""

from harness.emulator import KubeApiEmulator
from harness.resources import DEFAULT_CRD_FOLDER, ResourceType, load_crd_documents
from harness.runtime import RecordedRequest, RunningEmulator

__all__ = [
    "DEFAULT_CRD_FOLDER",
    "KubeApiEmulator",
    "RecordedRequest",
    "ResourceType",
    "RunningEmulator",
    "load_crd_documents",
]
