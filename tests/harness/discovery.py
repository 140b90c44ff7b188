"""API discovery documents, built from what the registry serves at the moment of the request.

Two formats, as a real apiserver offers them:

- legacy: `/api` (APIVersions), `/apis` (APIGroupList), `/apis/<group>`
  (APIGroup), `/api/v1` and `/apis/<group>/<version>` (APIResourceList);
- aggregated (`apidiscovery.k8s.io` v2 and v2beta1): `/api` and `/apis` list
  every group with its resources in one response. kubectl 1.32 asks for it
  first (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...`)
  and recognises it by the response's Content-Type, so one request replaces
  one per group version.

Subresources are listed as a real server lists them (`modeltiers/status`, verbs
get/patch/update, no short names; `deployments/scale` as an autoscaling/v1 Scale,
which `kubectl scale` looks up): kmock's own discovery repeats the parent's
short names there, which makes kubectl warn that `crds` is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from harness.resources import VERBS, ResourceType
from harness.scale import SCALE_GROUP, SCALE_KIND, SCALE_VERSION

KUBERNETES_VERSION = "1.32.0"
SUBRESOURCE_VERBS = ("get", "patch", "update")
AGGREGATED_VERSIONS = ("v2", "v2beta1")
_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def server_version() -> dict[str, str]:
    """`/version`: the Kubernetes release whose API behaviour the emulator follows."""
    major, minor, _ = KUBERNETES_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc",
            "platform": "linux/amd64"}


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the version the apiserver prefers first: v2, v1, v1beta2, v1beta1, v1alpha1, other."""
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, number = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(number or 0), version)


def _groups(rtypes: Iterable[ResourceType]) -> dict[str, dict[str, list[ResourceType]]]:
    """group -> version (preferred first) -> resources, core group included as ''."""
    groups: dict[str, dict[str, list[ResourceType]]] = {}
    for rtype in sorted(rtypes, key=lambda r: (r.group, version_priority(r.version), r.plural)):
        groups.setdefault(rtype.group, {}).setdefault(rtype.version, []).append(rtype)
    return groups


def _group_version_entry(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}" if group else version, "version": version}


# -- legacy discovery ------------------------------------------------------------------------------

def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def _api_group(group: str, versions: Iterable[str]) -> dict[str, Any]:
    entries = [_group_version_entry(group, version) for version in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(rtypes: Iterable[ResourceType]) -> dict[str, Any]:
    groups = [_api_group(group, versions) for group, versions in _groups(rtypes).items() if group]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(rtypes: Iterable[ResourceType], group: str) -> dict[str, Any] | None:
    versions = _groups(rtypes).get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


def api_resource_list(rtypes: Iterable[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    served = _groups(rtypes).get(group, {}).get(version)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in served:
        resources.append({
            "name": rtype.plural, "singularName": rtype.singular or rtype.kind.lower(),
            "namespaced": rtype.namespaced, "kind": rtype.kind, "verbs": list(VERBS),
            **({"shortNames": list(rtype.short_names)} if rtype.short_names else {}),
            **({"categories": list(rtype.categories)} if rtype.categories else {}),
        })
        if rtype.has_status:
            resources.append({"name": f"{rtype.plural}/status", "singularName": "", "namespaced": rtype.namespaced,
                              "kind": rtype.kind, "verbs": list(SUBRESOURCE_VERBS)})
        if rtype.has_scale:
            resources.append({"name": f"{rtype.plural}/scale", "singularName": "", "namespaced": rtype.namespaced,
                              "group": SCALE_GROUP, "version": SCALE_VERSION, "kind": SCALE_KIND,
                              "verbs": list(SUBRESOURCE_VERBS)})
    group_version = _group_version_entry(group, version)["groupVersion"]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


# -- aggregated discovery --------------------------------------------------------------------------

def requested_aggregated_version(accept: str | None) -> str | None:
    """The apidiscovery.k8s.io version the Accept header prefers, or None for legacy discovery."""
    for media_range in (accept or "").split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        values = dict(param.partition("=")[::2] for param in params)
        if kind == "application/json" and values.get("g") == "apidiscovery.k8s.io" \
                and values.get("as") == "APIGroupDiscoveryList" and values.get("v") in AGGREGATED_VERSIONS:
            return values["v"]
    return None


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


def _discovery_resource(rtype: ResourceType) -> dict[str, Any]:
    kind = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    entry: dict[str, Any] = {
        "resource": rtype.plural, "responseKind": kind,
        "scope": "Namespaced" if rtype.namespaced else "Cluster",
        "singularResource": rtype.singular or rtype.kind.lower(), "verbs": list(VERBS),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    subresources = []
    if rtype.has_status:
        subresources.append({"subresource": "status", "responseKind": kind, "verbs": list(SUBRESOURCE_VERBS)})
    if rtype.has_scale:
        scale = {"group": SCALE_GROUP, "version": SCALE_VERSION, "kind": SCALE_KIND}
        subresources.append({"subresource": "scale", "responseKind": scale, "verbs": list(SUBRESOURCE_VERBS)})
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(rtypes: Iterable[ResourceType], *, core: bool, version: str = "v2") -> dict[str, Any]:
    """`/api` (core) or `/apis` (every other group) as an APIGroupDiscoveryList."""
    items = [
        {"metadata": {"name": group, "creationTimestamp": None},
         "versions": [{"version": group_version, "resources": [_discovery_resource(r) for r in served],
                       "freshness": "Current"}
                      for group_version, served in versions.items()]}
        for group, versions in _groups(rtypes).items() if (group == "") == core
    ]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
