"""Running it: kubeconfig for every client, background serving, stop/start, fault injection."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import httpx
import kubernetes
import kubernetes_asyncio
import pytest
import yaml

from harness import RunningEmulator

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def test_kubeconfig_is_a_real_kubeconfig_for_the_official_client(kube_emulator: RunningEmulator) -> None:
    config = yaml.safe_load(kube_emulator.kubeconfig_path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == kube_emulator.url
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kube_emulator.kubeconfig_path),
                                       client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as api:
        names = {ns.metadata.name for ns in kubernetes.client.CoreV1Api(api).list_namespace().items}
    assert {"default", "kube-system"} <= names


async def test_kubeconfig_works_for_kubernetes_asyncio(kube_emulator: RunningEmulator) -> None:
    configuration = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(config_file=str(kube_emulator.kubeconfig_path),
                                                     client_configuration=configuration)
    async with kubernetes_asyncio.client.ApiClient(configuration) as api:
        custom = kubernetes_asyncio.client.CustomObjectsApi(api)
        body = {"apiVersion": "test.tiergate.io/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": {"model": "m", "size": "1B", "vllm": {}}}
        await custom.create_namespaced_custom_object("test.tiergate.io", "v1", "default", "widgets", body)
        listing = await custom.list_namespaced_custom_object("test.tiergate.io", "v1", "default", "widgets")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["w"]


async def test_keeps_serving_while_the_test_loop_is_blocked(kube_emulator: RunningEmulator) -> None:
    # A blocking call from inside the test's event loop: an in-loop server would deadlock here.
    response = httpx.get(f"{kube_emulator.url}/api/v1/namespaces", timeout=5)
    assert response.status_code == 200
    await asyncio.sleep(0)


def test_serves_other_processes_through_the_kubeconfig(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-test"}})
    script = textwrap.dedent("""
        import json, kubernetes
        kubernetes.config.load_kube_config()
        items = kubernetes.client.CoreV1Api().list_namespaced_config_map("default").items
        print(json.dumps([item.metadata.name for item in items]))
    """)
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **kube_emulator.env},
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == ["from-test"]


def test_stop_and_start_keep_the_port_and_the_state(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}})
    url = kube_emulator.url
    kube_emulator.stop()
    assert not kube_emulator.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}{CONFIGMAPS}", timeout=2)
    kube_emulator.start()
    assert kube_emulator.url == url
    names = [item["metadata"]["name"] for item in httpx.get(f"{url}{CONFIGMAPS}", timeout=5).json()["items"]]
    assert names == ["kept"]


async def test_stop_ends_open_watches(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    streaming = asyncio.Event()

    async def watch() -> list[str]:
        async with (httpx.AsyncClient(base_url=kube_emulator.url, timeout=10) as client,
                    client.stream("GET", CONFIGMAPS, params={"watch": "true"}) as response):
            lines = []
            async for line in response.aiter_lines():
                lines.append(json.loads(line)["type"])
                streaming.set()
            return lines

    watching = asyncio.create_task(watch())
    await asyncio.wait_for(streaming.wait(), timeout=5)
    await asyncio.to_thread(kube_emulator.stop)
    assert await asyncio.wait_for(watching, timeout=5) == ["ADDED"]  # ended cleanly, as on a server restart


def test_kmock_reactions_inject_faults_ahead_of_the_semantics(kube_emulator: RunningEmulator,
                                                              http: httpx.Client) -> None:
    kube_emulator.api["get", "/api/v1/namespaces/default/configmaps"][:2] << 503  # the next two lists fail
    assert http.post(CONFIGMAPS, json={"metadata": {"name": "still-works"}}).status_code == 201
    assert [http.get(CONFIGMAPS).status_code for _ in range(3)] == [503, 503, 200]


def test_resolves_resources_by_any_name(kube_emulator: RunningEmulator) -> None:
    widgets = kube_emulator.resource("widgets")
    for alias in ("Widget", "wd", "widget", "widgets.test.tiergate.io", "test.tiergate.io/v1/widgets"):
        assert kube_emulator.resource(alias) == widgets
    assert kube_emulator.resource("events").group == ""
    assert kube_emulator.resource("events.events.k8s.io").group == "events.k8s.io"
    with pytest.raises(LookupError):
        kube_emulator.resource("nothing")
