"""Run the emulator on loopback from its own thread, and drive it from tests synchronously.

The server gets a dedicated thread with its own event loop, so it keeps
answering while a test blocks (a synchronous client call, `time.sleep`, a
`subprocess.run` of the gateway) and whichever loop the test runs Kopf in.
`stop()` closes the listening socket and every open watch; `start()` listens
again on the same port with the same objects, which is how tests simulate an
API server outage.

The object helpers (`create`, `get`, `list_objects`, `patch`, `set_status`,
`delete`) act on the store directly, with the same semantics as the HTTP API,
but without HTTP: they do not appear in the request log, so a test's setup
never blurs assertions like "the reconcile sent no write".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import kmock
import yaml

from harness.emulator import KubeApiEmulator
from harness.patching import MERGE_PATCH
from harness.paths import is_true
from harness.resources import ResourceType, load_crd_documents
from harness.selectors import FieldSelector, LabelSelector
from harness.watching import WatchFilter

T = TypeVar("T")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received, for assertions."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None  # decoded JSON; the raw text when it is not JSON (server-side apply YAML)
    content_type: str = ""
    resource: str | None = None  # the plural, e.g. "configmaps"
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def verb(self) -> str | None:
        """The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection."""
        if self.resource is None:
            return None
        if self.method == "GET":
            return "watch" if is_true(self.query.get("watch")) else ("get" if self.name else "list")
        if self.method == "DELETE":
            return "delete" if self.name else "deletecollection"
        return _VERBS.get(self.method)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @classmethod
    def from_kmock(cls, request: kmock.Request) -> RecordedRequest:
        resource = request.resource
        return cls(
            method=str(request.method.value),
            path=request.url.path,
            query=dict(request.params),
            body=request.data if request.data is not None else (request.text or None),
            content_type=request.headers.get("Content-Type", ""),
            resource=resource.plural if resource is not None else None,
            namespace=request.namespace,
            name=request.name,
            subresource=request.subresource,
        )


class RunningEmulator:
    """A `KubeApiEmulator` listening on loopback, with helpers for tests.

    `url`, `port`, `kubeconfig_path` and `env` tell clients where it is; `api`
    is the kmock handler itself (its DSL injects faults:
    `running.api['get /api/v1/namespaces/default/configmaps'] << 503`).
    """

    def __init__(self, *, crds: Iterable[Mapping[str, Any]] = (), host: str = "127.0.0.1",
                 port: int = 0, workdir: Path | None = None, event_window: int = 10_000) -> None:
        self.api = KubeApiEmulator(event_window=event_window)
        self.host = host
        self._port = port
        self._crds = [dict(crd) for crd in crds]
        self._workdir = workdir
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: kmock.Server | None = None
        self._requests_mark = 0
        self._closed = False

    # -- where it is ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("The emulator has not been started yet.")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def kubeconfig_path(self) -> Path:
        """A kubeconfig pointing at the emulator (written at the first `start()`)."""
        if self._workdir is None:
            raise RuntimeError("The emulator has no working directory for its kubeconfig.")
        return self._workdir / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a subprocess's Kubernetes clients at the emulator."""
        return {"KUBECONFIG": str(self.kubeconfig_path)}

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on the port of the previous run (a free one the first time), same state."""
        if self._closed:
            raise RuntimeError("A closed emulator cannot start again; stop() it to restart it later.")
        if self._thread is None:
            self._start_loop()
            self._run(self.api.__aenter__())
            self._call(self.api.seed, self._crds)
        if self._server is None:
            self._run(self._open_server())
            self._write_kubeconfig()

    def stop(self) -> None:
        """Stop listening and end every watch; objects and the request log stay."""
        if self._server is not None:
            self._run(self._close_server())

    def close(self) -> None:
        """Stop for good and release the thread."""
        self.stop()
        self._closed = True
        if self._thread is not None and self._loop is not None:
            self._run(self.api.__aexit__(None, None, None))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> RunningEmulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def _open_server(self) -> None:
        self.api.store.resume_watches()
        server = kmock.Server(self.api, host=self.host, port=self._port or None)
        await server.__aenter__()
        self._port = server.port
        self._server = server

    async def _close_server(self) -> None:
        assert self._server is not None
        self.api.store.end_watches()
        await asyncio.sleep(0)  # let the woken watch handlers finish their responses
        await self._server.__aexit__(None, None, None)
        self._server = None

    def _start_loop(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name="kube-api-emulator", daemon=True)
        self._thread.start()
        ready.wait()

    def _write_kubeconfig(self) -> None:
        if self._workdir is None:
            return
        self._workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-emulator", "user": {"token": "kube-emulator-token"}}],
            "contexts": [{"name": "kube-emulator", "context": {
                "cluster": "kube-emulator", "user": "kube-emulator", "namespace": "default"}}],
            "current-context": "kube-emulator",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    # -- running code on the emulator's loop ------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        if self._loop is None:
            raise RuntimeError("The emulator is not running.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store operation on the loop's thread, where all state changes happen."""
        if self._loop is None:
            raise RuntimeError("The emulator is not running.")
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as e:  # handed over to the calling thread
                future.set_exception(e)

        self._loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    # -- objects ----------------------------------------------------------------------------

    def resource(self, name: str) -> ResourceType:
        """The served resource a test means: `configmaps`, `ModelTier`, `apps/v1/deployments`..."""
        return self._call(self.api.registry.resolve, name)

    def _where(self, resource: str, namespace: str | None) -> tuple[ResourceType, str | None]:
        rtype = self.resource(resource)
        return rtype, (namespace or "default") if rtype.namespaced else None

    def create(self, obj: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """Create an object (the namespace defaults to the body's, then `default`).

        Unlike a POST, a `status` in the body is kept: it is written through the
        status subresource afterwards, as a controller would, to seed e.g. ready Deployments.
        """
        rtype = self._call(self.api.registry.for_object, obj)
        if rtype is None:
            raise LookupError(f"No served resource for {obj.get('apiVersion')}/{obj.get('kind')}.")
        namespace = namespace or obj.get("metadata", {}).get("namespace") or "default"
        created = self._call(self.api.store.create, rtype, namespace if rtype.namespaced else None, obj)
        if rtype.has_status and obj.get("status") is not None:
            created = self.set_status(rtype.plural, created["metadata"]["name"], obj["status"],
                                      namespace=created["metadata"].get("namespace"))
        return created

    def get(self, resource: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None if there is none (namespace `default` unless given)."""
        rtype, namespace = self._where(resource, namespace)
        return self._call(self.api.store.find, rtype, namespace, name)

    def list_objects(self, resource: str, *, namespace: str | None = None, label_selector: str = "",
                     field_selector: str = "") -> list[dict[str, Any]]:
        """Objects of a resource, in every namespace unless one is given."""
        rtype = self.resource(resource)
        selection = WatchFilter(rtype, namespace, LabelSelector.parse(label_selector),
                                FieldSelector.parse(field_selector))
        return self._call(self.api.store.select, selection)

    def patch(self, resource: str, name: str, patch: Any, *, namespace: str | None = None,
              subresource: str | None = None, content_type: str = MERGE_PATCH) -> dict[str, Any]:
        """Patch an object (a merge patch unless told otherwise)."""
        rtype, namespace = self._where(resource, namespace)
        result, _ = self._call(self.api.store.patch, rtype, namespace, name, patch, content_type,
                               subresource=subresource, field_manager="harness")
        return result

    def scale(self, resource: str, name: str, replicas: int, *, namespace: str | None = None) -> dict[str, Any]:
        """Set `spec.replicas` through the `scale` subresource, as an autoscaler would; returns the `Scale`."""
        rtype, namespace = self._where(resource, namespace)
        return self._call(self.api.store.update_scale, rtype, namespace, name, {"spec": {"replicas": replicas}})

    def set_status(self, resource: str, name: str, status: Any, *,
                   namespace: str | None = None) -> dict[str, Any]:
        """Replace `.status` through the status subresource."""
        rtype, namespace = self._where(resource, namespace)
        return self._call(self.api.store.set_status, rtype, namespace, name, status)

    def delete(self, resource: str, name: str, *, namespace: str | None = None,
               propagation: str | None = None) -> dict[str, Any]:
        """Delete as the API does: finalizers hold the object, dependents are collected."""
        rtype, namespace = self._where(resource, namespace)
        obj, _ = self._call(self.api.store.delete, rtype, namespace, name, propagation=propagation)
        return obj

    def history(self, resource: str, name: str, *, namespace: str | None = None) -> list[dict[str, Any] | None]:
        """Every version the object went through, oldest first; None marks a deletion."""
        rtype, namespace = self._where(resource, namespace)
        return self._call(self.api.store.history, rtype, namespace, name)

    def load_crds(self, *paths: Path | str) -> None:
        """Register more CRDs from YAML files or folders, as `kubectl apply` of them would."""
        self._call(self.api.seed, load_crd_documents(*paths))

    def compact(self) -> None:
        """Forget past watch events, as etcd compaction does: older resourceVersions get 410."""
        self._call(self.api.store.compact)

    # -- the request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received since the start or the last `clear_requests()`, oldest first."""
        received = self._call(lambda: list(self.api))
        return [RecordedRequest.from_kmock(request) for request in received[self._requests_mark:]]

    def writes(self, resource: str | None = None) -> list[RecordedRequest]:
        """The POST/PUT/PATCH/DELETE requests, optionally for one resource plural only."""
        return [r for r in self.requests if r.is_write and (resource is None or r.resource == resource)]

    def clear_requests(self) -> None:
        """Start the request log afresh (e.g. after a test's setup phase)."""
        self._requests_mark = self._call(lambda: len(list(self.api)))

    # -- waiting ------------------------------------------------------------------------------

    async def wait_for(self, check: Callable[[], T | None] | Callable[[], Awaitable[T | None]], *,
                       timeout: float = 10.0, interval: float = 0.05) -> T:
        """Poll `check` until it returns something truthy; return that, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"Nothing turned up within {timeout} s.")
            await asyncio.sleep(interval)

    def wait_until(self, check: Callable[[], T | None], *, timeout: float = 10.0,
                   interval: float = 0.05) -> T:
        """`wait_for` for synchronous tests."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Nothing turned up within {timeout} s.")
            time.sleep(interval)
        return result
