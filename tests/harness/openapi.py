"""OpenAPI v3 documents (`/openapi/v3`), built from the served resources and the CRD schemas.

Two clients depend on them:

- `kubectl explain` finds a resource's kind through the `x-kubernetes-group-version-kind`
  of the operations on its paths, then walks `components.schemas` (following
  `$ref` and `allOf`) and prints each field's type and description;
- kubectl's (and Helm's) field validation: before sending `?fieldValidation=Strict`,
  the client checks that the PATCH operation of the kind lists that parameter;
  if not, it validates client-side against `/openapi/v2`, which the emulator does
  not serve (it is protobuf only), and fails.

Custom resources get their CRD's `openAPIV3Schema` as a real apiserver publishes
it, `metadata` pointing at `ObjectMeta`. Built-in kinds have no schema in the
emulator; they are published as objects that keep unknown fields, so explain
shows only `apiVersion`, `kind` and `metadata` for them.

The index links each group version with a content hash (`?hash=`), as the
apiserver does, so a client's cache notices a CRD change.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from harness.discovery import KUBERNETES_VERSION
from harness.resources import ResourceType

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_REF = "#/components/schemas/"
API_VERSION_DESCRIPTION = ("APIVersion defines the versioned schema of this representation of an object. "
                           "Servers should convert recognized schemas to the latest internal value, and may "
                           "reject unrecognized values.")
KIND_DESCRIPTION = ("Kind is a string value representing the REST resource this object represents. Servers may "
                    "infer this from the endpoint the client submits requests to. In CamelCase.")
METADATA_DESCRIPTION = "Standard object's metadata."


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


# The apimachinery types that objects and operations refer to, trimmed to the fields people read.
META_SCHEMAS: dict[str, dict[str, Any]] = {
    f"{META}.Time": {"type": "string", "format": "date-time",
                     "description": "Time is a wrapper around time.Time, serialized in RFC 3339 form."},
    f"{META}.OwnerReference": {
        "type": "object", "required": ["apiVersion", "kind", "name", "uid"],
        "description": "OwnerReference identifies an owning object; dependents are collected when it goes.",
        "properties": {
            "apiVersion": _string("API version of the referent."),
            "kind": _string("Kind of the referent."),
            "name": _string("Name of the referent."),
            "uid": _string("UID of the referent."),
            "controller": {"type": "boolean", "description": "If true, this reference points to the managing "
                                                              "controller."},
            "blockOwnerDeletion": {"type": "boolean", "description": "If true, the owner cannot be deleted "
                                                                      "from storage until this reference is "
                                                                      "removed (foreground deletion)."},
        },
        "x-kubernetes-map-type": "atomic",
    },
    f"{META}.ManagedFieldsEntry": {
        "type": "object",
        "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
                       "that the fieldset applies to.",
        "properties": {
            "manager": _string("Manager is an identifier of the workflow managing these fields."),
            "operation": _string("Operation is the type of operation which lead to this entry: Apply or Update."),
            "apiVersion": _string("APIVersion defines the version of this resource that this field set "
                                  "applies to."),
            "time": {"allOf": [_ref(f"{META}.Time")], "description": "When the entry was last changed."},
            "fieldsType": _string("FieldsType is the discriminator for the fields format: FieldsV1."),
            "fieldsV1": {"type": "object", "description": "FieldsV1 holds the first JSON version format."},
            "subresource": _string("The subresource used to update the object, if any."),
        },
    },
    f"{META}.ObjectMeta": {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all "
                       "objects users must create.",
        "properties": {
            "name": _string("Name must be unique within a namespace."),
            "generateName": _string("An optional prefix the server uses to generate a unique name, if "
                                    "name is not provided."),
            "namespace": _string("Namespace defines the space within which each name must be unique."),
            "uid": _string("UID is the unique in time and space value for this object, set by the server."),
            "resourceVersion": _string("An opaque value that represents the internal version of this object, "
                                       "for optimistic concurrency and watches."),
            "generation": {"type": "integer", "format": "int64",
                           "description": "A sequence number representing a specific generation of the "
                                          "desired state."},
            "creationTimestamp": {"allOf": [_ref(f"{META}.Time")],
                                  "description": "When this object was created, set by the server."},
            "deletionTimestamp": {"allOf": [_ref(f"{META}.Time")],
                                  "description": "When this object will be deleted, set by the server when "
                                                 "a graceful deletion is requested."},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64",
                                           "description": "Seconds allowed for this object to terminate."},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                       "description": "Map of string keys and values to organize and select objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                            "description": "Unstructured key value map for arbitrary metadata."},
            "ownerReferences": {"type": "array", "items": {"allOf": [_ref(f"{META}.OwnerReference")]},
                                "description": "Objects this object depends on.",
                                "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map"},
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                           "description": "Must be empty before the object is deleted from the registry.",
                           "x-kubernetes-list-type": "set"},
            "managedFields": {"type": "array", "items": {"allOf": [_ref(f"{META}.ManagedFieldsEntry")]},
                              "description": "Which workflow owns which fields (server-side apply)."},
        },
    },
    f"{META}.ListMeta": {
        "type": "object", "description": "ListMeta describes metadata that synthetic resources must have.",
        "properties": {"resourceVersion": _string("The version of the list, for watches."),
                       "continue": _string("Set if there are more items; pass it to get the next page."),
                       "remainingItemCount": {"type": "integer", "format": "int64",
                                              "description": "Items left after this page."}},
    },
    f"{META}.Status": {"type": "object", "description": "Status is a return value for calls that don't "
                                                        "return other objects.",
                       "x-kubernetes-preserve-unknown-fields": True},
}

# Query parameters of writes; kubectl looks for fieldValidation on PATCH.
_WRITE_PARAMETERS = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True},
     "description": "All: check and answer, but do not store the change."},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True},
     "description": "A name for the actor making the change; required for apply patches."},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
     "description": "Ignore, Warn or Strict: what to do with unknown fields in the body."},
]


def schema_name(rtype: ResourceType) -> str:
    """The definition name the apiserver uses: `io.tiergate.v1alpha1.ModelTier`, `io.k8s.api.core.v1.Secret`."""
    if not rtype.group:
        prefix = "io.k8s.api.core"
    elif rtype.group == "apiextensions.k8s.io":
        prefix = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    elif rtype.group.endswith(".k8s.io") or "." not in rtype.group:
        prefix = f"io.k8s.api.{rtype.group.removesuffix('.k8s.io').replace('.', '')}"
    else:
        prefix = ".".join(reversed(rtype.group.split(".")))
    return f"{prefix}.{rtype.version}.{rtype.kind}"


def _gvk(rtype: ResourceType) -> dict[str, str]:
    return {"group": rtype.group, "kind": rtype.kind, "version": rtype.version}


def object_schema(rtype: ResourceType) -> dict[str, Any]:
    """The published schema of a kind: the CRD schema, or an open object for built-ins."""
    schema: dict[str, Any]
    if rtype.schema is not None:
        schema = copy.deepcopy(dict(rtype.schema))
    else:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                  "description": f"{rtype.kind} (served by the API emulator without a schema)."}
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": API_VERSION_DESCRIPTION,
                                **{k: v for k, v in (properties.get("apiVersion") or {}).items() if k != "type"}}
    properties["kind"] = {"type": "string", "description": KIND_DESCRIPTION,
                          **{k: v for k, v in (properties.get("kind") or {}).items() if k != "type"}}
    properties["metadata"] = {"allOf": [_ref(f"{META}.ObjectMeta")], "description": METADATA_DESCRIPTION}
    schema["x-kubernetes-group-version-kind"] = [_gvk(rtype)]
    return schema


def list_schema(rtype: ResourceType) -> dict[str, Any]:
    return {
        "type": "object", "required": ["items"], "description": f"{rtype.list_kind} is a list of {rtype.kind}.",
        "properties": {"apiVersion": _string(API_VERSION_DESCRIPTION), "kind": _string(KIND_DESCRIPTION),
                       "metadata": {"allOf": [_ref(f"{META}.ListMeta")], "description": "Standard list metadata."},
                       "items": {"type": "array", "items": _ref(schema_name(rtype)),
                                 "description": f"List of {rtype.plural}."}},
        "x-kubernetes-group-version-kind": [{**_gvk(rtype), "kind": rtype.list_kind}],
    }


def _operation(rtype: ResourceType, action: str, verb: str, returns: str, *,
               writes: bool = False, body: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{verb}{rtype.kind}",
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(returns)}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rtype),
    }
    if writes:
        operation["parameters"] = copy.deepcopy(_WRITE_PARAMETERS)
    if body:
        operation["requestBody"] = {"content": {"application/json": {"schema": _ref(schema_name(rtype))}},
                                    "required": True}
    return operation


def _paths(rtype: ResourceType) -> dict[str, Any]:
    base = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    scoped = f"{base}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else f"{base}/{rtype.plural}"
    kind = schema_name(rtype)
    kind_list = f"{kind}List"
    path_params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    if rtype.namespaced:
        path_params.append({"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}})
    one = {
        "get": _operation(rtype, "get", "read", kind),
        "put": _operation(rtype, "put", "replace", kind, writes=True, body=True),
        "patch": _operation(rtype, "patch", "patch", kind, writes=True, body=True),
        "delete": _operation(rtype, "delete", "delete", f"{META}.Status"),
        "parameters": path_params,
    }
    paths: dict[str, Any] = {
        scoped: {"get": _operation(rtype, "list", "list", kind_list),
                 "post": _operation(rtype, "post", "create", kind, writes=True, body=True),
                 "delete": _operation(rtype, "deletecollection", "deletecollection", f"{META}.Status"),
                 **({"parameters": path_params[1:]} if rtype.namespaced else {})},
        f"{scoped}/{{name}}": one,
    }
    if rtype.namespaced:
        paths[f"{base}/{rtype.plural}"] = {"get": _operation(rtype, "list", "listForAllNamespaces", kind_list)}
    if rtype.has_status:
        paths[f"{scoped}/{{name}}/status"] = {key: copy.deepcopy(value) for key, value in one.items()
                                              if key in ("get", "put", "patch", "parameters")}
    return paths


def group_version_key(group: str, version: str) -> str:
    """The key of a group version in the index: `api/v1`, `apis/tiergate.io/v1alpha1`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document(rtypes: Iterable[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group version, or None if nothing is served there."""
    served = sorted((r for r in rtypes if r.group == group and r.version == version), key=lambda r: r.plural)
    if not served:
        return None
    schemas: dict[str, Any] = copy.deepcopy(META_SCHEMAS)
    paths: dict[str, Any] = {}
    for rtype in served:
        schemas[schema_name(rtype)] = object_schema(rtype)
        schemas[f"{schema_name(rtype)}List"] = list_schema(rtype)
        paths.update(_paths(rtype))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_VERSION}"},
            "paths": paths, "components": {"schemas": schemas}}


def content_hash(doc: Mapping[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def index(rtypes: Iterable[ResourceType]) -> dict[str, Any]:
    """`/openapi/v3`: every served group version and the URL of its document."""
    rtypes = list(rtypes)
    paths: dict[str, Any] = {}
    for group, version in sorted({(r.group, r.version) for r in rtypes}):
        doc = document(rtypes, group, version)
        assert doc is not None
        key = group_version_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={content_hash(doc)}"}
    return {"paths": paths}
