"""What `helm install` of the chart creates: valid objects, hardened pods, least-privilege RBAC, wiring."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_harness import (
    KUBERNETES_VERSION,
    NAMESPACE,
    ROOT,
    HelmWorker,
    Release,
    install,
    new_cluster,
    render,
)

from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy

OVERLAYS = ["default", "kind", "everything-on", "ha-gateway", "kind-autoscaling"]
NO_BUILTIN_SCHEMA = {"tiergate.io", "monitoring.coreos.com", "kopf.dev"}
STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                   "app.kubernetes.io/part-of", "app.kubernetes.io/component", "helm.sh/chart")


def _group(obj: dict[str, Any]) -> str:
    return obj["apiVersion"].rpartition("/")[0]


def _pod_specs(release: Release) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in release.of_kind("Deployment")]


def _container(release: Release, deployment_suffix: str) -> dict[str, Any]:
    return release.one("Deployment", deployment_suffix)["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container.get("env", [])}


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_every_builtin_object_validates_against_kubernetes(rendered: dict[str, Release], overlay_name: str) -> None:
    objects = [o for o in rendered[overlay_name].all_objects() if _group(o) not in NO_BUILTIN_SCHEMA]
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay_name", ["kind", "everything-on"])
def test_example_objects_are_valid_tiergate_resources(rendered: dict[str, Release], overlay_name: str) -> None:
    release = rendered[overlay_name]
    tiers = [ModelTier.model_validate(obj) for obj in release.of_kind("ModelTier")]
    policies = [RoutingPolicy.model_validate(obj) for obj in release.of_kind("RoutingPolicy")]
    assert {t.metadata.name for t in tiers} == {"sim-small", "sim-large"}
    assert [t.name for t in policies[0].spec.tiers] == ["sim-small", "sim-large"]


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_names_and_label_values_fit_63_characters(rendered: dict[str, Release], overlay_name: str) -> None:
    for obj in rendered[overlay_name].all_objects():
        if obj["kind"] != "CustomResourceDefinition":
            assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
        assert all(len(str(v)) <= 63 for v in obj["metadata"].get("labels", {}).values())


def test_a_long_release_name_still_gives_names_of_63_characters(helm: HelmWorker, tmp_path: Path) -> None:
    long = {"fullnameOverride": "a-release-with-a-long-name-" + "x" * 36}  # 63 characters
    release = render(helm, {**long, "jaeger": {"enabled": True}, "operator": {"replicas": 2}}, tmp_path)
    objects = [o for o in release.all_objects() if o["kind"] != "CustomResourceDefinition"]
    names = [o["metadata"]["name"] for o in objects]
    assert max(len(n) for n in names) == 63
    assert all(not n.endswith("-") for n in names)
    deployments = sorted(o["metadata"]["name"][-9:] for o in objects if o["kind"] == "Deployment")
    assert deployments == ["-operator", "x-gateway", "xx-jaeger"]  # cut from the release part, never the suffix


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_every_object_carries_the_standard_labels(rendered: dict[str, Release], overlay_name: str) -> None:
    for obj in rendered[overlay_name].all_objects():
        labels = obj["metadata"].get("labels", {})
        assert [key for key in STANDARD_LABELS if key not in labels] == [], obj["metadata"]["name"]


# ---------------------------------------------------------------- pods


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_every_pod_runs_hardened(rendered: dict[str, Release], overlay_name: str) -> None:
    pods = _pod_specs(rendered[overlay_name])
    assert pods
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["enableServiceLinks"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            assert "livenessProbe" in container, name
            # A read-only root needs a writable /tmp (HOME) on an emptyDir.
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"], name


def test_gateway_probes_use_healthz_and_readyz(rendered: dict[str, Release]) -> None:
    gateway = _container(rendered["default"], "-gateway")
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}


# ---------------------------------------------------------------- RBAC


def _rules(release: Release, kind: str, suffix: str) -> list[dict[str, Any]]:
    return [rule for obj in release.of_kind(kind) if obj["metadata"]["name"].endswith(suffix) for rule in obj["rules"]]


def _grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_rbac_has_no_wildcards_and_secrets_are_read_only(rendered: dict[str, Release], overlay_name: str) -> None:
    for kind in ("ClusterRole", "Role"):
        for rule in _rules(rendered[overlay_name], kind, ""):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert "nonResourceURLs" not in rule
            if "secrets" in rule["resources"]:
                assert set(rule["verbs"]) <= {"get", "list", "watch"}


GATEWAY_GRANTS = {
    ("tiergate.io", "modeltiers"): {"get", "list", "watch"},
    ("tiergate.io", "routingpolicies"): {"get", "list", "watch"},
    ("tiergate.io", "routingpolicies/status"): {"patch"},  # status.budget, the spend of the day
    ("", "secrets"): {"get", "list", "watch"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},  # the ready replicas of vllm tiers
    ("apps", "deployments"): {"get", "list", "watch"},  # how many replicas an autoscaled tier wants
    ("apps", "deployments/scale"): {"get", "patch", "update"},  # waking a cold tier: 0 -> 1
}


def test_gateway_reads_tiers_policies_secrets_and_replicas_and_writes_only_policy_budgets(
    rendered: dict[str, Release],
) -> None:
    assert _grants(_rules(rendered["default"], "ClusterRole", "-gateway")) == GATEWAY_GRANTS


def test_gateway_watching_listed_namespaces_reads_endpointslices_only_there(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]
    watched = release.values["watchNamespaces"]
    slices = ("discovery.k8s.io", "endpointslices")
    assert not any(slices in _grants(obj["rules"]) for obj in release.of_kind("ClusterRole"))
    gateway_roles = [r for r in release.of_kind("Role") if r["metadata"]["name"].endswith("-gateway")]
    assert sorted(r["metadata"]["namespace"] for r in gateway_roles) == sorted(watched)
    for role in gateway_roles:
        assert _grants(role["rules"]) == GATEWAY_GRANTS


def test_operator_gets_exactly_what_it_uses(rendered: dict[str, Release]) -> None:
    crud = {"get", "list", "watch", "create", "update", "patch", "delete"}
    assert _grants(_rules(rendered["default"], "ClusterRole", "-operator")) == {
        ("tiergate.io", "modeltiers"): {"get", "list", "watch", "patch", "update"},
        ("tiergate.io", "routingpolicies"): {"get", "list", "watch", "patch", "update"},
        ("tiergate.io", "modeltiers/status"): {"get", "patch", "update"},
        ("tiergate.io", "routingpolicies/status"): {"get", "patch", "update"},
        ("apps", "deployments"): crud,
        ("", "services"): crud,
        ("", "persistentvolumeclaims"): crud,
        ("keda.sh", "scaledobjects"): crud,
        ("", "secrets"): {"get", "list", "watch"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "events"): {"create", "patch"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }


def test_listed_namespaces_confine_secret_access_to_roles(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]
    watched = release.values["watchNamespaces"]
    cluster_roles = [o["metadata"]["name"] for o in release.of_kind("ClusterRole")]
    assert cluster_roles == ["tiergate-operator"]  # the gateway has Roles only
    for obj in release.of_kind("ClusterRole"):
        assert ("", "secrets") not in _grants(obj["rules"]), obj["metadata"]["name"]
    roles = release.of_kind("Role")
    assert sorted({r["metadata"]["namespace"] for r in roles}) == sorted(watched)
    for role in roles:
        assert _grants(role["rules"])[("", "secrets")] == {"get", "list", "watch"}
    bindings = release.of_kind("RoleBinding")
    assert len(bindings) == len(roles) == 2 * len(watched)
    for binding in bindings:
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_operator_peering_rights_only_with_several_replicas(rendered: dict[str, Release]) -> None:
    assert not any(group == "kopf.dev" for group, _ in _grants(_rules(rendered["default"], "ClusterRole", "")))
    role_grants = _grants(_rules(rendered["everything-on"], "Role", "-operator"))
    assert role_grants[("kopf.dev", "kopfpeerings")] == {"get", "list", "watch", "patch"}


# ---------------------------------------------------------------- CRDs


def _crd_source() -> dict[str, dict[str, Any]]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    return {doc["metadata"]["name"]: doc for doc in docs}


def test_chart_crds_equal_the_repository_crds(rendered: dict[str, Release]) -> None:
    source = _crd_source()
    crds = {o["metadata"]["name"]: o for o in rendered["default"].of_kind("CustomResourceDefinition")}
    assert crds.keys() == source.keys()
    for name, crd in crds.items():
        expected = source[name]
        assert crd["spec"] == expected["spec"], name
        assert crd["metadata"]["labels"].items() >= expected["metadata"]["labels"].items()
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_chart_crd_copies_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_chart_crds.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_crds_can_be_left_out_or_not_kept(helm: HelmWorker, tmp_path: Path) -> None:
    without = render(helm, {"crds": {"enabled": False}}, tmp_path / "off")
    assert without.of_kind("CustomResourceDefinition") == []
    unkept = render(helm, {"crds": {"keep": False}}, tmp_path / "unkept")
    for crd in unkept.of_kind("CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})


# ---------------------------------------------------------------- operator


def test_single_operator_runs_standalone_with_recreate(rendered: dict[str, Release]) -> None:
    deployment = rendered["default"].one("Deployment", "-operator")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert args == ["operator", "--liveness=http://0.0.0.0:8081/healthz", "--log-level=INFO", "--all-namespaces",
                    "--standalone"]
    assert rendered["default"].of_kind("KopfPeering") + rendered["default"].of_kind("ClusterKopfPeering") == []


def test_several_operators_peer_through_a_peering_object(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]
    deployment = release.one("Deployment", "-operator")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "--peering=tiergate-operator" in args and "--standalone" not in args
    assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=tiergate", "--namespace=team-a"]
    peerings = release.of_kind("KopfPeering")
    assert {p["metadata"]["namespace"] for p in peerings} == {"tiergate", "team-a"}
    assert {p["metadata"]["name"] for p in peerings} == {"tiergate-operator"}


def test_operator_settings_become_its_environment(rendered: dict[str, Release]) -> None:
    env = _env(_container(rendered["everything-on"], "-operator"))
    assert env["TIERGATE_OPERATOR_VLLM_IMAGE"] == "vllm/vllm-openai:v0.21.0"
    assert env["TIERGATE_OPERATOR_STARTUP_TIMEOUT_SECONDS"] == "3600"
    assert env["TIERGATE_OPERATOR_RESYNC_SECONDS"] == "120"
    assert env["TIERGATE_OPERATOR_MAX_CONCURRENT_RECONCILES"] == "8"
    assert "TIERGATE_OPERATOR_PROBE_TIMEOUT_SECONDS" not in env  # null: the operator's own default


# ---------------------------------------------------------------- gateway


def test_gateway_runs_in_kubernetes_mode_with_auth(rendered: dict[str, Release]) -> None:
    release = rendered["default"]
    container = _container(release, "-gateway")
    args = ["gateway", "--kube", "--host=0.0.0.0", "--port=8080", "--workers=1", "--log-level=info"]
    assert container["args"] == args
    env = _env(container)
    assert env["TIERGATE_AUTH_KEYS_FILE"] == "/etc/tiergate/auth/keys.yaml"
    assert env["TIERGATE_MAX_BODY_BYTES"] == "10485760"
    assert env["OTEL_TRACES_EXPORTER"] == "none"
    assert "TIERGATE_REDIS_URL" not in env
    secret = release.one("Secret", "-gateway-auth")
    keys = yaml.safe_load(_b64(secret["data"]["keys.yaml"]))
    token = _b64(secret["data"]["token"])
    assert keys == {"keys": [{"key": token, "tenant": "default", "policies": ["*"], "scopes": ["admin"]}]}
    assert token.startswith("tg-") and len(token) == 43
    assert release.one("Service", "-gateway")["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("overlay_name", OVERLAYS)
def test_gateway_listens_on_the_pod_ip(rendered: dict[str, Release], overlay_name: str) -> None:
    """`tiergate gateway` binds 127.0.0.1 by default; the Service, the probes and kind's node port need the pod IP."""
    assert "--host=0.0.0.0" in _container(rendered[overlay_name], "-gateway")["args"]


def _b64(text: str) -> str:
    return base64.b64decode(text).decode()


def test_generated_gateway_key_is_kept_across_upgrades(helm: HelmWorker, tmp_path: Path) -> None:
    cluster = new_cluster(tmp_path)
    try:
        first = install(helm, cluster)
        second = install(helm, cluster, {"gateway": {"replicas": 2}}, upgrade=True)
    finally:
        cluster.close()
    assert first.one("Secret", "-gateway-auth")["data"] == second.one("Secret", "-gateway-auth")["data"]


def test_existing_secret_replaces_the_generated_one(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]
    assert release.of_kind("Secret") == []
    volumes = release.one("Deployment", "-gateway")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "auth", "secret": {"secretName": "gateway-keys", "defaultMode": 0o440,
                                       "items": [{"key": "keys.yaml", "path": "keys.yaml"}]}} in volumes


def test_ha_gateway_shares_state_in_redis_and_spreads_out(rendered: dict[str, Release]) -> None:
    release = rendered["ha-gateway"]
    deployment = release.one("Deployment", "-gateway")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert _env(pod["containers"][0])["TIERGATE_REDIS_URL"] == "redis://redis-master.redis:6379/0"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert release.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert "WARNING" not in release.notes


def test_autoscaling_owns_the_replica_count(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]
    assert "replicas" not in release.one("Deployment", "-gateway")["spec"]
    hpa = release.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tiergate-gateway"
    redis = _env(_container(release, "-gateway"))["TIERGATE_REDIS_URL"]
    assert redis == {"secretKeyRef": {"name": "redis-url", "key": "url"}}


def test_replicas_without_redis_are_warned_about(helm: HelmWorker, tmp_path: Path) -> None:
    release = render(helm, {"gateway": {"replicas": 2}}, tmp_path)
    assert "without gateway.redis" in release.notes


# ---------------------------------------------------------------- optional pieces


def test_jaeger_receives_the_traces_of_gateway_and_operator(rendered: dict[str, Release]) -> None:
    release = rendered["kind"]
    jaeger = "tiergate-jaeger.tiergate.svc"
    for suffix, service in (("-gateway", "tiergate-gateway"), ("-operator", "tiergate-operator")):
        env = _env(_container(release, suffix))
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://{jaeger}:4318"
        assert env["OTEL_SERVICE_NAME"] == service
    assert _env(_container(release, "-operator"))["TIERGATE_OPERATOR_OTLP_TRACES_ENDPOINT"] == f"http://{jaeger}:4317"
    ports = {p["name"]: p for p in release.one("Service", "-jaeger")["spec"]["ports"]}
    assert {ports[n]["port"] for n in ("otlp-grpc", "otlp-http", "ui")} == {4317, 4318, 16686}
    assert ports["ui"]["nodePort"] == 30686
    assert _container(release, "-jaeger")["image"] == "jaegertracing/all-in-one:1.76.0"


def test_service_monitors_scrape_metrics_of_both_components(rendered: dict[str, Release]) -> None:
    monitors = {m["metadata"]["name"]: m["spec"] for m in rendered["everything-on"].of_kind("ServiceMonitor")}
    assert monitors["tiergate-gateway"]["endpoints"][0]["port"] == "http"
    assert monitors["tiergate-operator"]["endpoints"][0]["port"] == "metrics"
    assert all(m["endpoints"][0]["path"] == "/metrics" for m in monitors.values())
    operator_ports = rendered["everything-on"].one("Service", "-operator-metrics")["spec"]["ports"]
    assert operator_ports == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]


def test_network_policies_admit_only_served_ports(rendered: dict[str, Release]) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in rendered["everything-on"].of_kind("NetworkPolicy")}
    assert set(policies) == {"tiergate-gateway", "tiergate-operator", "tiergate-jaeger"}
    assert policies["tiergate-gateway"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert policies["tiergate-gateway"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},  # gatewayFrom
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},  # metricsFrom
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}},  # kedaFrom: /scaling/demand
    ]
    assert policies["tiergate-operator"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert all(p["policyTypes"] == ["Ingress"] for p in policies.values())


def test_optional_pieces_are_off_by_default(rendered: dict[str, Release]) -> None:
    kinds = {o["kind"] for o in rendered["default"].all_objects()}
    assert kinds.isdisjoint({"ServiceMonitor", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                             "ModelTier", "RoutingPolicy"})
    assert not [d for d in rendered["default"].of_kind("Deployment") if d["metadata"]["name"].endswith("-jaeger")]


def test_examples_run_the_simulator_on_the_kind_pools(rendered: dict[str, Release]) -> None:
    release = rendered["kind"]
    for tier in release.of_kind("ModelTier"):
        vllm = tier["spec"]["vllm"]
        pool = "gpu-small" if tier["metadata"]["name"] == "sim-small" else "gpu-large"
        assert vllm["image"] == "tiergate-sim:dev"
        assert vllm["gpu"] == {"count": 0}
        assert vllm["extraArgs"][-2:] == ["--host", "0.0.0.0"]
        assert vllm["nodePool"]["nodeSelector"] == {"tiergate.io/pool": pool}
        assert vllm["nodePool"]["tolerations"] == [
            {"key": "tiergate.io/pool", "operator": "Equal", "value": pool, "effect": "NoSchedule"}]
    for obj in release.hooks:
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert len(release.hooks) == 3


def test_notes_tell_how_to_reach_the_gateway_and_what_next(rendered: dict[str, Release]) -> None:
    default = rendered["default"].notes
    assert "kubectl port-forward -n tiergate svc/tiergate-gateway 8080:8080" in default
    assert "jsonpath='{.data.token}'" in default
    assert "examples/policies/auto-hybrid.yaml" in default
    kind = rendered["kind"].notes
    assert "http://localhost:30080" in kind and "http://localhost:16686" in kind
    assert "sim-small" in kind


# ---------------------------------------------------------------- autoscaled tiers (KEDA)


def test_the_chart_installs_nothing_of_keda(rendered: dict[str, Release]) -> None:
    for name, release in rendered.items():
        assert not [o for o in release.all_objects() if _group(o) == "keda.sh"], name
        crds = [o["spec"]["group"] for o in release.of_kind("CustomResourceDefinition")]
        assert set(crds) == {"tiergate.io"}, name


def test_the_operator_learns_where_prometheus_and_the_gateways_demand_are(rendered: dict[str, Release],
                                                                          helm: HelmWorker, tmp_path: Path) -> None:
    env = _env(_container(rendered["default"], "-operator"))
    assert env["TIERGATE_OPERATOR_PROMETHEUS_ADDRESS"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert env["TIERGATE_OPERATOR_GATEWAY_DEMAND_URL"] == f"http://tiergate-gateway.{NAMESPACE}.svc:8080"
    values = {"tierAutoscaling": {"prometheusAddress": "", "gatewayDemandUrl": "http://gw.edge.svc:9000/"},
              "gateway": {"service": {"port": 80}}}
    env = _env(_container(render(helm, values, tmp_path / "elsewhere"), "-operator"))
    assert "TIERGATE_OPERATOR_PROMETHEUS_ADDRESS" not in env  # empty: no Prometheus triggers
    assert env["TIERGATE_OPERATOR_GATEWAY_DEMAND_URL"] == "http://gw.edge.svc:9000"
    env = _env(_container(render(helm, {"gateway": {"enabled": False}}, tmp_path / "no-gateway"), "-operator"))
    assert "TIERGATE_OPERATOR_GATEWAY_DEMAND_URL" not in env


def test_prometheus_scrapes_the_vllm_pods_of_the_watched_namespaces(rendered: dict[str, Release]) -> None:
    assert rendered["default"].of_kind("PodMonitor") == []
    monitor = rendered["kind-autoscaling"].one("PodMonitor", "-model-servers")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "vllm",
                                                          "app.kubernetes.io/managed-by": "tiergate-operator"}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s",
                                                       "scrapeTimeout": "10s"}]
    listed = rendered["everything-on"].one("PodMonitor", "-model-servers")
    assert listed["spec"]["namespaceSelector"] == {"matchNames": ["tiergate", "team-a"]}
    gateway = rendered["kind-autoscaling"].one("ServiceMonitor", "-gateway")  # tiergate_tier_demand_total
    assert gateway["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_operator_labels_and_names_match_what_the_pod_monitor_selects() -> None:
    from tiergate_api.constants import LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY
    from tiergate_operator.render import APP_NAME, PORT_NAME

    assert (LABEL_NAME, APP_NAME, LABEL_MANAGED_BY, MANAGED_BY, PORT_NAME) == (
        "app.kubernetes.io/name", "vllm", "app.kubernetes.io/managed-by", "tiergate-operator", "http")
