"""The HTTP side of the emulated API server: a `kmock.KubernetesEmulator` with real semantics.

What stays kmock's: the aiohttp server, the request log (iterating the
handler, kmock's filters), reactions (`api['get', '/api/v1/pods'] << 503`
injects a fault and takes precedence over the semantics below) and object
storage with per-object history (`objects`).

What this class changes:

- request parsing (`paths.py`), which kmock 0.8 gets wrong for `/api/v1/namespaces...`;
- kmock's naive CRUD fallbacks are not installed; resource requests that no
  user reaction intercepts are served by `ObjectStore` (`store.py`) and
  rendered here with real status codes (kmock's dynamic `Response` payloads
  mutate the shared reaction, so statuses such as 201 cannot go through them);
- discovery, `/version` and `/openapi/v3` come from the registry
  (`discovery.py`, `openapi.py`) with the content types clients negotiate;
- reads answer `Table`s when asked (`tables.py`), as `kubectl get` asks;
- writes honour `?fieldValidation=` (Strict: 400 for unknown fields; Warn, the
  default: a `Warning` header) and server-side apply's `?fieldManager=&force=`;
- Deployments serve the `scale` subresource (`scale.py`), as autoscalers use it;
- watches stream until `timeoutSeconds`, compaction, or `stop()`.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, override

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # kmock 0.8 does not export StreamingError

from harness import discovery, errors, openapi, tables
from harness.patching import (
    APPLY_PATCH,
    JSON_PATCH,
    PATCH_TYPES,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    decode_body,
    drop_directives,
)
from harness.paths import is_true, parse_path, parse_request
from harness.resources import BUILTIN_RESOURCES, ResourceRegistry, ResourceType
from harness.selectors import EXTRA_FIELDS, FieldSelector, LabelSelector, SelectorError
from harness.store import ObjectStore
from harness.watching import WatchFilter

logger = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system")
# Encodings a real server also accepts for creates and updates, but the emulator cannot decode:
# kubectl's typed commands (`kubectl create namespace`, `create secret`...) send protobuf.
BINARY_BODY_TYPES = ("application/vnd.kubernetes.protobuf", "application/cbor")


class _ServeSemantically(Exception):
    """Raised by the fallback reaction: no kmock reaction took the request, the store serves it."""


def _is_resource_request(request: kmock.Request) -> bool:
    return request.resource is not None and request.resource.plural is not None


def _is_meta_request(request: kmock.Request) -> bool:
    """Discovery, version and OpenAPI reads: everything but resources that a client GETs first."""
    path = request.url.path.rstrip("/") or "/"
    return request.method.value == "GET" and (
        path in ("/", "/api", "/apis", "/version", "/openapi/v2") or path.startswith("/openapi/v3")
        or (request.resource is not None and request.resource.plural is None))


@attrs.define(kw_only=True)
class KubeApiEmulator(kmock.KubernetesEmulator):
    """A Kubernetes API server test double: kmock's emulator plus the semantics in `store.py`."""

    event_window: int = 10_000
    registry: ResourceRegistry = attrs.field(init=False)
    store: ObjectStore = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Skip KubernetesEmulator's own CRUD fallbacks on purpose; kmock's discovery handlers stay
        # registered, but these two signals outrank them (`_serve_meta`, `_serve`).
        kmock.KubernetesScaffold.__attrs_post_init__(self)
        (self.fallback ** 1)[_is_resource_request] << _ServeSemantically
        (self.fallback ** 1)[_is_meta_request] << _ServeSemantically
        self.registry = ResourceRegistry(on_add=self._advertise, on_remove=self._withdraw)
        self.store = ObjectStore(self.objects, self.registry, event_window=self.event_window)
        self.registry.add(BUILTIN_RESOURCES)

    # kmock's `resources` table mirrors the registry, for tests that look there; discovery
    # itself is served from the registry (`_serve_meta`).
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
        if _is_resource_request(request):
            return await self._serve(request, raw_request)
        return self._serve_meta(request, raw_request)

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

    # -- discovery, version, OpenAPI -----------------------------------------------------------

    def _serve_meta(self, request: kmock.Request, raw: aiohttp.web.BaseRequest) -> aiohttp.web.Response:
        path = raw.path.rstrip("/") or "/"
        rtypes = list(self.registry)
        if path in ("/api", "/apis"):
            version = discovery.requested_aggregated_version(raw.headers.get("Accept"))
            if version is not None:
                body = discovery.aggregated(rtypes, core=path == "/api", version=version)
                return aiohttp.web.Response(text=json.dumps(body),
                                            content_type=None,
                                            headers={"Content-Type": discovery.aggregated_content_type(version),
                                                     "Vary": "Accept"})
            return _json(discovery.api_versions() if path == "/api" else discovery.api_group_list(rtypes))
        if path == "/version":
            return _json(discovery.server_version())
        if path == "/":
            keys = {openapi.group_version_key(r.group, r.version) for r in rtypes}
            groups = {f"/apis/{r.group}" for r in rtypes if r.group}
            return _json({"paths": sorted({"/api", "/apis", "/version", "/openapi/v3", *groups,
                                           *(f"/{key}" for key in keys)})})
        if path == "/openapi/v3":
            return _json(openapi.index(rtypes))
        if path.startswith("/openapi/v3/"):
            where = parse_path(path.removeprefix("/openapi/v3"))
            doc = None if where.group is None or where.version is None or where.plural is not None else \
                openapi.document(rtypes, where.group, where.version)
            if doc is None:
                raise errors.unknown_resource()
            return _json(doc)
        if path == "/openapi/v2":
            raise errors.unknown_resource()  # protobuf only on a real server; clients use v3 here
        assert request.resource is not None
        group, version = request.resource.group or "", request.resource.version
        listing = discovery.api_group(rtypes, group) if version is None else \
            discovery.api_resource_list(rtypes, group, version)
        if listing is None:
            raise errors.unknown_resource()
        return _json(listing)

    # -- resource requests ----------------------------------------------------------------------

    async def _serve(self, request: kmock.Request, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        resource = request.resource
        assert resource is not None
        rtype = self.registry.get(resource.group or "", resource.version or "", resource.plural or "")
        if rtype is None or (request.namespace is not None and not rtype.namespaced):
            raise errors.unknown_resource()
        served = {None, *(("status",) if rtype.has_status else ()), *(("scale",) if rtype.has_scale else ())}
        if request.subresource not in served:
            raise errors.unknown_resource()
        table_version = tables.requested_table_version(raw.headers.get("Accept"))
        options = request.data if raw.method == "DELETE" and isinstance(request.data, dict) else {}
        dry_run = request.params.get("dryRun") or ",".join(options.get("dryRun") or [])  # DELETE: in the body
        if dry_run not in (None, "", "All"):
            raise errors.bad_request(f'invalid dry run value "{dry_run}": only "All" is supported')
        if raw.method in ("POST", "PUT") and raw.content_type in BINARY_BODY_TYPES:
            raise errors.unsupported_media_type(raw.content_type, ("application/json", "application/yaml"))
        if raw.method == "GET" or not dry_run:
            return await self._serve_resource(rtype, request, raw, table_version)
        with self.store.dry_run():  # writes never await, so no other request sees the flag
            return await self._serve_resource(rtype, request, raw, table_version)

    async def _serve_resource(self, rtype: ResourceType, request: kmock.Request, raw: aiohttp.web.BaseRequest,
                              table_version: str | None) -> aiohttp.web.StreamResponse:
        namespace = request.namespace if rtype.namespaced else None
        params = request.params
        name = request.name
        if request.subresource == "scale":
            return self._serve_scale(rtype, namespace, name, request, raw)

        match raw.method:
            case "GET" if is_true(params.get("watch")):
                return await self._watch(rtype, namespace, name, params, raw, table_version)
            case "GET" if name:
                obj = self.store.get(rtype, namespace, name)
                if table_version:
                    return _json(tables.table(rtype, [obj], version=table_version,
                                              list_metadata={"resourceVersion": obj["metadata"]["resourceVersion"]},
                                              include_object=params.get("includeObject")))
                return _json(obj)
            case "GET":
                listing = self._list(rtype, namespace, params)
                if table_version:
                    return _json(tables.table(rtype, listing["items"], version=table_version,
                                              list_metadata=listing["metadata"],
                                              include_object=params.get("includeObject")))
                return _json(listing)
            case "POST" if not name:
                warnings = self._check_fields(rtype, request.data, params)
                return _json(self.store.create(rtype, namespace, request.data), status=201, warnings=warnings)
            case "PUT" if name:
                warnings = self._check_fields(rtype, request.data, params)
                return _json(self.store.replace(rtype, namespace, name, request.data,
                                                subresource=request.subresource), warnings=warnings)
            case "PATCH" if name:
                content_type = raw.content_type
                if content_type not in PATCH_TYPES or (rtype.custom and content_type == STRATEGIC_MERGE_PATCH):
                    raise errors.unsupported_media_type(content_type)  # no strategic merge for CRs, as upstream
                try:
                    patch = decode_body(request.body, content_type)
                except PatchError as e:
                    raise errors.bad_request(str(e)) from e
                warnings = [] if content_type == JSON_PATCH else \
                    self._check_fields(rtype, drop_directives(patch), params)
                result, created = self.store.patch(rtype, namespace, name, patch, content_type,
                                                   subresource=request.subresource,
                                                   field_manager=params.get("fieldManager"),
                                                   force=is_true(params.get("force")))
                return _json(result, status=201 if created else 200, warnings=warnings)
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

    def _serve_scale(self, rtype: ResourceType, namespace: str | None, name: str | None, request: kmock.Request,
                     raw: aiohttp.web.BaseRequest) -> aiohttp.web.Response:
        """GET, PUT and PATCH of an object's `Scale` (scale.py); nothing else is served there."""
        if not name or is_true(request.params.get("watch")):
            raise errors.method_not_allowed()
        match raw.method:
            case "GET":
                return _json(self.store.get_scale(rtype, namespace, name))
            case "PUT":
                return _json(self.store.update_scale(rtype, namespace, name, request.data))
            case "PATCH":
                if raw.content_type not in PATCH_TYPES or raw.content_type == APPLY_PATCH:
                    raise errors.unsupported_media_type(raw.content_type)
                try:
                    patch = decode_body(request.body, raw.content_type)
                except PatchError as e:
                    raise errors.bad_request(str(e)) from e
                return _json(self.store.patch_scale(rtype, namespace, name, patch, raw.content_type))
        raise errors.method_not_allowed()

    def _check_fields(self, rtype: ResourceType, body: Any, params: Mapping[str, str]) -> list[str]:
        """Apply `?fieldValidation=`: raise for Strict, return the warnings for Warn (the default)."""
        directive = params.get("fieldValidation") or "Warn"
        if directive not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f"fieldValidation must be one of Ignore, Warn or Strict, not {directive!r}")
        unknown = [] if directive == "Ignore" else self.store.admission.unknown_fields(rtype, body)
        if unknown and directive == "Strict":
            raise errors.strict_decoding(rtype, unknown)
        return [f'unknown field "{field}"' for field in unknown]

    def _selection(self, rtype: ResourceType, namespace: str | None, params: Mapping[str, str]) -> WatchFilter:
        try:
            return WatchFilter(rtype, namespace, LabelSelector.parse(params.get("labelSelector")),
                               FieldSelector.parse(params.get("fieldSelector"),
                                                   EXTRA_FIELDS.get((rtype.group, rtype.plural), ())))
        except SelectorError as e:
            raise errors.bad_request(str(e)) from e

    def _list(self, rtype: ResourceType, namespace: str | None, params: Mapping[str, str]) -> dict[str, Any]:
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
                     params: Mapping[str, str], raw: aiohttp.web.BaseRequest,
                     table_version: str | None = None) -> aiohttp.web.StreamResponse:
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
            first = True
            async for event in self.store.watch(selection, since=since, send_initial=send_initial,
                                                timeout=timeout):
                if table_version and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    # As `kubectl get -w` asks: each object as a one-row Table, columns in the first only.
                    event = {**event, "object": tables.table(
                        rtype, [event["object"]], version=table_version, with_columns=first,
                        list_metadata={"resourceVersion": event["object"]["metadata"].get("resourceVersion")},
                        include_object=params.get("includeObject"))}
                    first = False
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away; nothing to finish
        return response


def _json(payload: Any, *, status: int = 200, warnings: Iterable[str] = ()) -> aiohttp.web.Response:
    response = aiohttp.web.json_response(payload, status=status)
    for warning in warnings:
        response.headers.add("Warning", errors.warning_header(warning))
    return response


def _success(rtype: ResourceType, obj: dict[str, Any] | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    if obj is not None:
        details.update(name=obj["metadata"]["name"], uid=obj["metadata"].get("uid"))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
