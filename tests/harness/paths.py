"""Parse API request paths into kmock requests, including cluster-scoped core paths.

kmock 0.8's own parser reads `/api/v1/namespaces/<x>` as "namespace x, no
resource" and fails outright on `/api/v1/namespaces` (it treats the first
`namespaces` segment as the namespace prefix). Namespaces are themselves a
resource, so the prefix only counts when a resource follows it:

    /api/v1/namespaces                      -> namespaces (list)
    /api/v1/namespaces/x[/status|finalize]  -> the Namespace x
    /api/v1/namespaces/x/configmaps[/y]     -> configmaps in namespace x

Everything else matches what kmock derives, so its filters and its discovery
handlers keep working on the requests built here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock

# Segments after /namespaces/<name> that address the Namespace object, not a resource in it.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class ApiPath:
    """What a path addresses; `group is None` means it is not an API path at all."""

    group: str | None = None
    version: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> ApiPath:
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 2 and parts[0] == "apis":
        group, version, rest = parts[1], (parts[2] if len(parts) > 2 else None), parts[3:]
    else:
        return ApiPath()

    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return ApiPath(group, version, plural, namespace, name, subresource)


def is_true(value: str | None) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (`watch=True` from some clients)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def guess_action(path: ApiPath, method: str, query: dict[str, str]) -> kmock.action | None:
    """The Kubernetes verb, as kmock names it (PUT and collection DELETE have no kmock action)."""
    if path.group is None:
        return None
    if method == "GET":
        if is_true(query.get("watch")):
            return kmock.action.WATCH
        return kmock.action.LIST if path.name is None else kmock.action.FETCH
    if path.name is None:
        return kmock.action.CREATE if method == "POST" else None
    return {"PATCH": kmock.action.UPDATE, "DELETE": kmock.action.DELETE}.get(method)


async def parse_request(raw_request: aiohttp.web.BaseRequest, *, id: int) -> kmock.Request:
    """Build the kmock request for an incoming HTTP request (a fixed `Request._parse`)."""
    body = await raw_request.read()
    text = body.decode("utf-8", errors="replace")
    data: Any
    try:
        data = json.loads(text) if text else None
    except ValueError:  # e.g. YAML for server-side apply; the handler decodes it by content type
        data = None

    path = parse_path(raw_request.path)
    resource = None
    if path.group is not None:
        resource = kmock.resource(group=path.group, version=path.version, plural=path.plural)
    query = dict(raw_request.query)
    return kmock.Request(
        id=id,
        raw_request=raw_request,
        url=raw_request.url,
        method=raw_request.method,
        params=query,
        headers=dict(raw_request.headers),
        cookies=dict(raw_request.cookies),
        body=body,
        text=text,
        data=data,
        action=guess_action(path, raw_request.method, query),
        resource=resource,
        namespace=path.namespace,
        name=path.name,
        subresource=path.subresource,
    )
