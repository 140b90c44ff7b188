"""The HTTP side of the emulated API server: a `kmock.KubernetesEmulator` with real semantics.

What stays kmock's: the aiohttp server, the request log (iterating the
handler, kmock's filters), reactions (`api['get', '/api/v1/pods'] << 503`
injects a fault and takes precedence over the semantics below), discovery
(`/api`, `/apis`, `/apis/<group>/<version>` from `resources`) and object
storage with per-object history (`objects`).

What this class changes:

- request parsing (`paths.py`), which kmock 0.8 gets wrong for `/api/v1/namespaces...`;
- kmock's naive CRUD fallbacks are not installed; resource requests that no
  user reaction intercepts are served by `ObjectStore` (`store.py`) and
  rendered here with real status codes (kmock's dynamic `Response` payloads
  mutate the shared reaction, so statuses such as 201 cannot go through them);
- watches stream until `timeoutSeconds`, compaction, or `stop()`.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Iterable
from typing import Any, override

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # kmock 0.8 does not export StreamingError

from harness import errors
from harness.patching import PATCH_TYPES, PatchError, decode_body
from harness.paths import is_true, parse_request
from harness.resources import BUILTIN_RESOURCES, ResourceRegistry, ResourceType
from harness.selectors import FieldSelector, LabelSelector, SelectorError
from harness.store import ObjectStore
from harness.watching import WatchFilter

logger = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system")


class _ServeSemantically(Exception):
    """Raised by the fallback reaction: no kmock reaction took the request, the store serves it."""


def _is_resource_request(request: kmock.Request) -> bool:
    return request.resource is not None and request.resource.plural is not None


@attrs.define(kw_only=True)
class KubeApiEmulator(kmock.KubernetesEmulator):
    """A Kubernetes API server test double: kmock's emulator plus the semantics in `store.py`."""

    event_window: int = 10_000
    registry: ResourceRegistry = attrs.field(init=False)
    store: ObjectStore = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Skip KubernetesEmulator's own CRUD fallbacks on purpose: discovery only, then ours.
        kmock.KubernetesScaffold.__attrs_post_init__(self)
        (self.fallback ** 1)[_is_resource_request] << _ServeSemantically
        self.registry = ResourceRegistry(on_add=self._advertise, on_remove=self._withdraw)
        self.store = ObjectStore(self.objects, self.registry, event_window=self.event_window)
        self.registry.add(BUILTIN_RESOURCES)

    @override
    def _get_resources(self) -> list[kmock.resource]:
        # Discovery shows what is served now; kmock would also list every resource that ever
        # had an object (soft-deleted objects of a deleted CRD would bring it back).
        return kmock.KubernetesScaffold._get_resources(self)

    @override
    async def _serve_version(self, request: kmock.Request) -> dict[str, Any]:
        # kmock renders the core group's groupVersion as "/v1"; clients expect "v1".
        payload: dict[str, Any] = await super()._serve_version(request)
        if request.resource is not None and request.resource.group == "":
            payload["groupVersion"] = request.resource.version
        return payload

    def _advertise(self, rtype: ResourceType) -> None:
        self.resources[rtype.key] = rtype.discovery_info()

    def _withdraw(self, rtype: ResourceType) -> None:
        if rtype.key in self.resources:
            del self.resources[rtype.key]

    def seed(self, crds: Iterable[dict[str, Any]] = ()) -> None:
        """Create the namespaces every cluster has and the given CRDs (on the loop's thread)."""
        for namespace in INITIAL_NAMESPACES:
            if self.store.find(self.registry.resolve("namespaces"), None, namespace) is None:
                self.store.create(self.registry.resolve("namespaces"), None, {"metadata": {"name": namespace}})
        crd_type = self.registry.resolve("customresourcedefinitions")
        for crd in crds:
            name = crd.get("metadata", {}).get("name", "")
            if self.store.find(crd_type, None, name) is None:
                self.store.create(crd_type, None, crd)

    # -- request intake (replaces RawHandler.__call__ for the fixed parser) --------------------

    @override
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        request = await parse_request(raw_request, id=len(self._requests))
        self._requests.append(request)
        try:
            return await self._dispatch(request, raw_request)
        except rendering.StreamingError as e:  # a kmock stream failed after its headers went out
            raw_response: aiohttp.web.StreamResponse = e.args[0]
            cause = e.__cause__ if isinstance(e.__cause__, Exception) else e
            self._record_failure(cause, raw_request)
            await self._stream_error(cause, raw_response)
            await raw_response.write_eof()
            return raw_response
        except kmock.KubernetesError as e:  # an API answer such as 404 or 422, not a failure
            return await self._render_error(e)
        except Exception as e:
            self._record_failure(e, raw_request)
            return await self._render_error(e)

    async def _dispatch(self, request: kmock.Request,
                        raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        try:
            return await self._handle(request)
        except _ServeSemantically:
            pass  # outside the except block, so that API errors do not chain to the signal
        return await self._serve(request, raw_request)

    def _record_failure(self, exc: Exception, raw_request: aiohttp.web.BaseRequest) -> None:
        """Log a bug in the emulator (or in a test's reaction) and keep it for kmock's `errors`."""
        logger.error("The API emulator failed on %s %s", raw_request.method, raw_request.path_qs,
                     exc_info=exc)
        if self._errors:
            self._errors[-1].append(exc)

    @override
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # kmock's reactions only (user-defined ones, discovery, our fallback signal);
        # KubernetesEmulator._handle would also mutate its objects naively.
        return await kmock.RawHandler._handle(self, request)

    @override
    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, kmock.KubernetesError):
            body = errors.status_body(exc.status, exc.reason or type(exc).__name__,
                                      exc.message or repr(exc), exc.details)
            return aiohttp.web.json_response(body, status=exc.status)
        body = errors.status_body(500, "InternalError", repr(exc), {"traceback": traceback.format_exc()})
        return aiohttp.web.json_response(body, status=500)

    # -- resource requests ----------------------------------------------------------------------

    async def _serve(self, request: kmock.Request, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        resource = request.resource
        assert resource is not None
        rtype = self.registry.get(resource.group or "", resource.version or "", resource.plural or "")
        if rtype is None or (request.namespace is not None and not rtype.namespaced):
            raise errors.unknown_resource()
        if request.subresource not in (None, "status") or (request.subresource and not rtype.has_status):
            raise errors.unknown_resource()
        namespace = request.namespace if rtype.namespaced else None
        params = request.params
        name = request.name

        match raw.method:
            case "GET" if is_true(params.get("watch")):
                return await self._watch(rtype, namespace, name, params, raw)
            case "GET" if name:
                return _json(self.store.get(rtype, namespace, name))
            case "GET":
                return _json(self._list(rtype, namespace, params))
            case "POST" if not name:
                return _json(self.store.create(rtype, namespace, request.data), status=201)
            case "PUT" if name:
                return _json(self.store.replace(rtype, namespace, name, request.data,
                                                subresource=request.subresource))
            case "PATCH" if name:
                content_type = raw.content_type
                if content_type not in PATCH_TYPES:
                    raise errors.unsupported_media_type(content_type)
                try:
                    patch = decode_body(request.body, content_type)
                except PatchError as e:
                    raise errors.bad_request(str(e)) from e
                result, created = self.store.patch(rtype, namespace, name, patch, content_type,
                                                   subresource=request.subresource)
                return _json(result, status=201 if created else 200)
            case "DELETE" if name:
                options = request.data if isinstance(request.data, dict) else {}
                obj, gone = self.store.delete(
                    rtype, namespace, name,
                    propagation=options.get("propagationPolicy") or params.get("propagationPolicy"),
                    preconditions=options.get("preconditions"))
                if not gone or rtype.custom:  # pending deletions and custom resources return the object
                    return _json(obj)
                return _json(_success(rtype, obj))
            case "DELETE":
                self.store.delete_collection(self._selection(rtype, namespace, params))
                return _json(_success(rtype, None))
        raise errors.method_not_allowed()

    def _selection(self, rtype: ResourceType, namespace: str | None, params: dict[str, str]) -> WatchFilter:
        try:
            return WatchFilter(rtype, namespace, LabelSelector.parse(params.get("labelSelector")),
                               FieldSelector.parse(params.get("fieldSelector")))
        except SelectorError as e:
            raise errors.bad_request(str(e)) from e

    def _list(self, rtype: ResourceType, namespace: str | None, params: dict[str, str]) -> dict[str, Any]:
        items = self.store.select(self._selection(rtype, namespace, params))
        try:
            offset = int(base64.b64decode(params["continue"])) if params.get("continue") else 0
            limit = int(params.get("limit") or 0) or None
        except ValueError as e:
            raise errors.bad_request(f"invalid limit or continue token: {e}") from e
        page = items[offset:] if limit is None else items[offset:offset + limit]
        metadata: dict[str, Any] = {"resourceVersion": self.store.resource_version}
        if limit is not None and offset + limit < len(items):
            metadata["continue"] = base64.b64encode(str(offset + limit).encode()).decode()
            metadata["remainingItemCount"] = len(items) - offset - limit
        return {"apiVersion": rtype.api_version, "kind": rtype.list_kind, "metadata": metadata, "items": page}

    async def _watch(self, rtype: ResourceType, namespace: str | None, name: str | None,
                     params: dict[str, str], raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        selection = self._selection(rtype, namespace, params)
        if name:  # the deprecated /<plural>/<name>?watch=true form
            selection = WatchFilter(rtype, namespace, selection.labels,
                                    FieldSelector((*selection.fields.terms, ("metadata.name", True, name))))
        since_text = params.get("resourceVersion") or ""
        if since_text and not since_text.isdigit():
            raise errors.bad_request(f"invalid resource version: {since_text}")
        since = int(since_text) if since_text not in ("", "0") else None
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        send_initial = is_true(params.get("sendInitialEvents"))

        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        try:
            async for event in self.store.watch(selection, since=since, send_initial=send_initial,
                                                timeout=timeout):
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away; nothing to finish
        return response


def _json(payload: Any, *, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(payload, status=status)


def _success(rtype: ResourceType, obj: dict[str, Any] | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    if obj is not None:
        details.update(name=obj["metadata"]["name"], uid=obj["metadata"].get("uid"))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
