"""WATCH: initial state, resumption by resourceVersion, 410 after compaction, selectors."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import kubernetes_asyncio
import pytest

from harness import RunningEmulator
from harness.resources import BUILTIN_RESOURCES
from harness.watching import EventLog, WatchFilter

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
CM = "configmaps"


async def _watch(emulator: RunningEmulator, path: str, count: int, *, first: asyncio.Event | None = None,
                 **params: str) -> list[dict[str, Any]]:
    """Collect `count` events (or all until the server ends the stream); `first` is set on the first."""
    events: list[dict[str, Any]] = []
    async with (httpx.AsyncClient(base_url=emulator.url, timeout=10) as client,
                client.stream("GET", path, params={"watch": "true", **params}) as response):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line:
                events.append(json.loads(line))
                if first is not None:
                    first.set()
            if len(events) >= count:
                break
    return events


async def _start(emulator: RunningEmulator, path: str, count: int,
                 **params: str) -> asyncio.Task[list[dict[str, Any]]]:
    """Start watching in the background; return once the first (initial) event arrived."""
    first = asyncio.Event()
    task = asyncio.create_task(asyncio.wait_for(_watch(emulator, path, count, first=first, **params), timeout=5))
    await asyncio.wait_for(first.wait(), timeout=5)
    return task


def _watch_from_now(emulator: RunningEmulator, path: str, count: int,
                    **params: str) -> asyncio.Task[list[dict[str, Any]]]:
    """Watch from the current resourceVersion: what happens next is replayed, however late it connects."""
    since = emulator.api.store.resource_version
    return asyncio.create_task(asyncio.wait_for(_watch(emulator, path, count, resourceVersion=since, **params),
                                                timeout=5))


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def _cm(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}


async def test_watch_without_resource_version_sends_existing_objects_then_changes(
        kube_emulator: RunningEmulator) -> None:
    kube_emulator.create(_cm("old"))
    watching = await _start(kube_emulator, CONFIGMAPS, 4)
    kube_emulator.create(_cm("new"))
    kube_emulator.patch(CM, "new", {"data": {"k": "v"}})
    kube_emulator.delete(CM, "old")
    events = await watching
    assert _summary(events) == [("ADDED", "old"), ("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "old")]
    assert events[2]["object"]["data"] == {"k": "v"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events[1:]]
    assert versions == sorted(versions)


async def test_watch_resumes_after_a_resource_version(kube_emulator: RunningEmulator) -> None:
    first = kube_emulator.create(_cm("a"))
    kube_emulator.create(_cm("b"))
    kube_emulator.patch(CM, "a", {"data": {"x": "1"}})
    events = await _watch(kube_emulator, CONFIGMAPS, 2, resourceVersion=first["metadata"]["resourceVersion"])
    assert _summary(events) == [("ADDED", "b"), ("MODIFIED", "a")]


async def test_watch_from_a_compacted_resource_version_gets_410_gone(kube_emulator: RunningEmulator) -> None:
    first = kube_emulator.create(_cm("a"))
    kube_emulator.patch(CM, "a", {"data": {"x": "1"}})
    kube_emulator.compact()
    [event] = await _watch(kube_emulator, CONFIGMAPS, 1, resourceVersion=first["metadata"]["resourceVersion"])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert "too old resource version" in event["object"]["message"]


async def test_cluster_wide_watch_sees_every_namespace_and_namespaced_watch_one(
        kube_emulator: RunningEmulator) -> None:
    everywhere = _watch_from_now(kube_emulator, "/api/v1/configmaps", 2)
    only_default = _watch_from_now(kube_emulator, CONFIGMAPS, 1)
    kube_emulator.create(_cm("a", "kube-system"))
    kube_emulator.create(_cm("b", "default"))
    assert _summary(await everywhere) == [("ADDED", "a"), ("ADDED", "b")]
    assert _summary(await only_default) == [("ADDED", "b")]


async def test_watch_label_selector_turns_label_changes_into_added_and_deleted(
        kube_emulator: RunningEmulator) -> None:
    kube_emulator.create(_cm("a", tier="small"))
    watching = await _start(kube_emulator, CONFIGMAPS, 3, labelSelector="tier=small")
    kube_emulator.patch(CM, "a", {"metadata": {"labels": {"tier": "large"}}})
    kube_emulator.create(_cm("b", tier="large"))
    kube_emulator.patch(CM, "b", {"metadata": {"labels": {"tier": "small"}}})
    assert _summary(await watching) == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b")]


async def test_watch_of_one_object_by_field_selector(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create(_cm("a"))
    kube_emulator.create(_cm("b"))
    watching = await _start(kube_emulator, CONFIGMAPS, 2, fieldSelector="metadata.name=b")
    kube_emulator.patch(CM, "a", {"data": {"x": "1"}})
    kube_emulator.patch(CM, "b", {"data": {"x": "1"}})
    assert _summary(await watching) == [("ADDED", "b"), ("MODIFIED", "b")]


async def test_send_initial_events_ends_with_a_bookmark(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create(_cm("a"))
    events = await _watch(kube_emulator, CONFIGMAPS, 2, sendInitialEvents="true",
                          resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true")
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_watch_ends_after_timeout_seconds(kube_emulator: RunningEmulator) -> None:
    started = time.monotonic()
    events = await _watch(kube_emulator, CONFIGMAPS, 100, timeoutSeconds="1")
    assert events == [] and 0.9 < time.monotonic() - started < 3


async def test_old_events_fall_out_of_the_bounded_event_window() -> None:
    with RunningEmulator(event_window=4) as emulator:
        first = emulator.create(_cm("a"))
        for index in range(5):
            emulator.patch(CM, "a", {"data": {"i": str(index)}})
        [event] = await _watch(emulator, CONFIGMAPS, 1, resourceVersion=first["metadata"]["resourceVersion"])
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        recent = emulator.get(CM, "a")["metadata"]["resourceVersion"]
        emulator.patch(CM, "a", {"data": {"i": "last"}})
        assert _summary(await _watch(emulator, CONFIGMAPS, 1, resourceVersion=recent)) == [("MODIFIED", "a")]


async def test_watches_opened_while_the_server_stops_end_at_once() -> None:
    # Clients watch again as soon as a stream ends, maybe on a kept-alive connection while
    # the server shuts down; such a watch must not hold the shutdown (and so `stop()`) up.
    log = EventLog()
    selection = WatchFilter(next(rtype for rtype in BUILTIN_RESOURCES if rtype.plural == "configmaps"))
    log.close()
    started = time.monotonic()
    assert [event async for event in log.follow(selection, since=0, timeout=5)] == []
    assert time.monotonic() - started < 1
    log.reopen()
    started = time.monotonic()
    assert [event async for event in log.follow(selection, since=0, timeout=0.3)] == []
    assert time.monotonic() - started >= 0.3


def test_watch_rejects_a_malformed_resource_version(http: httpx.Client) -> None:
    assert http.get(CONFIGMAPS, params={"watch": "true", "resourceVersion": "abc"}).status_code == 400


@pytest.mark.parametrize("resource_version", ["0", ""])
async def test_watch_from_zero_or_nothing_starts_with_the_current_state(kube_emulator: RunningEmulator,
                                                                        resource_version: str) -> None:
    kube_emulator.create(_cm("a"))
    events = await _watch(kube_emulator, CONFIGMAPS, 1, resourceVersion=resource_version)
    assert _summary(events) == [("ADDED", "a")]


async def test_kubernetes_asyncio_watch_streams_events(kube_emulator: RunningEmulator) -> None:
    config = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(config_file=str(kube_emulator.kubeconfig_path),
                                                     client_configuration=config)
    async with kubernetes_asyncio.client.ApiClient(config) as api:
        core = kubernetes_asyncio.client.CoreV1Api(api)
        listing = await core.list_namespaced_config_map("default")
        kube_emulator.create(_cm("a"))
        seen = []
        watch = kubernetes_asyncio.watch.Watch()
        async with watch.stream(core.list_namespaced_config_map, "default",
                                resource_version=listing.metadata.resource_version, timeout_seconds=5) as stream:
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
                watch.stop()
        assert seen == [("ADDED", "a")]
