"""The `scale` subresource: an autoscaling/v1 `Scale` view of a Deployment's replica count.

What autoscalers and `kubectl scale` use instead of writing the whole object:
GET `/apis/apps/v1/namespaces/<ns>/deployments/<name>/scale` answers a `Scale`
whose `spec.replicas` is the Deployment's, `status.replicas` the count its
controller last reported, `status.selector` its pod selector as a string, and
`metadata.resourceVersion` the Deployment's. PUT and PATCH (merge, JSON or
strategic merge) change `spec.replicas` only; a `resourceVersion` that is not the
Deployment's current one answers 409 Conflict, as on a real server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness import errors
from harness.errors import invalid_value
from harness.resources import ResourceType

SCALE_GROUP = "autoscaling"
SCALE_VERSION = "v1"
SCALE_KIND = "Scale"
SCALE_API_VERSION = f"{SCALE_GROUP}/{SCALE_VERSION}"
_SCALE_TYPE = ResourceType(SCALE_GROUP, SCALE_VERSION, "scales", SCALE_KIND, True)  # for error messages only


def scale_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The `Scale` of a stored object (a Deployment)."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": SCALE_KIND,
        "apiVersion": SCALE_API_VERSION,
        "metadata": {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if key in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_string(spec.get("selector"))},
    }


def selector_string(selector: Any) -> str:
    """A LabelSelector (matchLabels, matchExpressions) as the string `?labelSelector=` takes."""
    if not isinstance(selector, Mapping):
        return ""
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        match operator:
            case "In" | "NotIn":
                terms.append(f"{key} {operator.lower()} ({','.join(values)})")
            case "Exists":
                terms.append(str(key))
            case "DoesNotExist":
                terms.append(f"!{key}")
    return ",".join(terms)


def requested_replicas(rtype: ResourceType, current: Mapping[str, Any], scale: Any) -> int:
    """The replica count a written `Scale` asks for, after the checks the API server makes."""
    name = current["metadata"]["name"]
    if not isinstance(scale, Mapping):
        raise errors.bad_request("the body of the request must be a JSON object")
    api_version, kind = scale.get("apiVersion"), scale.get("kind")
    if (api_version and api_version != SCALE_API_VERSION) or (kind and kind != SCALE_KIND):
        raise errors.bad_request(f"the API version and kind in the data ({api_version}, {kind}) do not match "
                                 f"the expected ({SCALE_API_VERSION}, {SCALE_KIND})")
    meta = scale.get("metadata") if isinstance(scale.get("metadata"), Mapping) else {}
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                 f"({name})")
    if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
        raise errors.conflict(rtype, name)
    spec = scale.get("spec") if isinstance(scale.get("spec"), Mapping) else {}
    replicas = spec.get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise errors.bad_request(f'Scale in version "{SCALE_VERSION}" cannot be handled as a Scale: '
                                 f"json: cannot unmarshal {type(replicas).__name__} into Go struct field "
                                 "ScaleSpec.spec.replicas of type int32")
    if replicas < 0:
        raise errors.invalid(_SCALE_TYPE, name, [invalid_value("spec.replicas", replicas,
                                                               "must be greater than or equal to 0")])
    return replicas
