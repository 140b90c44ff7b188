"""The end-to-end suite's connection to a real cluster: the kind cluster of `make kind-e2e`.

Every test here is marked `e2e` and runs only with `pytest -m e2e tests/e2e` (the default run
deselects the marker). Without a kubeconfig, without the context, or when the API server does
not answer, every test is skipped with the reason, so the suite is safe to run anywhere.

Settings (the Makefile sets the first three):
  TIERGATE_E2E_CONTEXT            kubeconfig context (default kind-tiergate)
  TIERGATE_E2E_RELEASE            Helm release of the chart (default tiergate)
  TIERGATE_E2E_RELEASE_NAMESPACE  its namespace (default tiergate)
  TIERGATE_E2E_GATEWAY_URL        the gateway from the host (default http://127.0.0.1:30080, kind-config.yaml)
  TIERGATE_E2E_JAEGER_URL         Jaeger's query API from the host (default http://127.0.0.1:16686)
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_settings import E2ESettings, settings_from_env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is an e2e test, whatever its module says."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e() -> E2ESettings:
    return settings_from_env()


@pytest.fixture(scope="session")
def kube(e2e: E2ESettings) -> object:
    """A `kubernetes.client.ApiClient` for the e2e context, or a skip that says why there is none."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    path = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)[0]
    if not Path(path).is_file():
        pytest.skip(f"no kubeconfig at {path}: run `make kind-e2e` (needs docker, kind, kubectl, helm)")
    try:
        api = config.new_client_from_config(config_file=path, context=e2e.context)
    except ConfigException as exc:
        pytest.skip(f"kubeconfig context {e2e.context!r} unusable: {exc}")
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:  # any failure to reach the server means: no cluster to test against
        pytest.skip(f"the API server of {e2e.context!r} does not answer: {exc}")
    return api


@pytest.fixture(scope="session")
def gateway_key(kube: object, e2e: E2ESettings) -> str | None:
    """The key the chart generated for the gateway (None when auth is off)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    name = f"{e2e.fullname}-gateway-auth"
    try:
        secret = client.CoreV1Api(kube).read_namespaced_secret(name, e2e.release_namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return base64.b64decode(secret.data["token"]).decode()


@pytest.fixture(scope="session")
def gateway(e2e: E2ESettings, gateway_key: str | None) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {gateway_key}"} if gateway_key else {}
    with httpx.Client(base_url=e2e.gateway_url, headers=headers, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def namespace(kube: object) -> Iterator[str]:
    """A fresh namespace for the suite's tiers and policies, deleted (with them) at the end."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    name = f"tiergate-e2e-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "tiergate-e2e"}}})
    try:
        yield name
    finally:
        core.delete_namespace(name)
