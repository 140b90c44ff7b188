"""The operator's only door to the API server: a few typed verbs over plain JSON objects.

Built on `kubernetes_asyncio` (its configuration loading, authentication and connection
pool), but requests go through `ApiClient.call_api` with raw JSON in and out: the
operator works with manifests as dicts, and the generated model classes would only add
a conversion each way. Every failure is mapped here, once, to `tiergate_operator.errors`.
Events are posted through Kopf's background poster, which batches and retries them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import kopf
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.config.config_exception import ConfigException

from tiergate_api.constants import GROUP, MODEL_TIER_KIND, MODEL_TIER_PLURAL, ROUTING_POLICY_KIND, ROUTING_POLICY_PLURAL
from tiergate_api.constants import VERSION as API_VERSION_NAME
from tiergate_operator.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TransientApiError,
)
from tiergate_operator.scaling import KEDA_GROUP, KEDA_VERSION, SCALED_OBJECT_KIND, SCALED_OBJECT_PLURAL

MERGE_PATCH: Final = "application/merge-patch+json"


@dataclass(frozen=True)
class Resource:
    """An API resource: where its objects live on the server."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """`apps/v1`, or `v1` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection in a namespace, or of one object (and its subresource)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{root}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
            if subresource is not None:
                path += f"/{subresource}"
        return path


DEPLOYMENTS: Final = Resource("apps", "v1", "deployments", "Deployment")
SERVICES: Final = Resource("", "v1", "services", "Service")
CLAIMS: Final = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
PODS: Final = Resource("", "v1", "pods", "Pod")
SECRETS: Final = Resource("", "v1", "secrets", "Secret")
MODEL_TIERS: Final = Resource(GROUP, API_VERSION_NAME, MODEL_TIER_PLURAL, MODEL_TIER_KIND)
ROUTING_POLICIES: Final = Resource(GROUP, API_VERSION_NAME, ROUTING_POLICY_PLURAL, ROUTING_POLICY_KIND)
SCALED_OBJECTS: Final = Resource(KEDA_GROUP, KEDA_VERSION, SCALED_OBJECT_PLURAL, SCALED_OBJECT_KIND)
"""KEDA's, served only where KEDA is installed (`serves`)."""
BY_KIND: Final = {
    r.kind: r for r in (DEPLOYMENTS, SERVICES, CLAIMS, PODS, SECRETS, MODEL_TIERS, ROUTING_POLICIES, SCALED_OBJECTS)
}


class Kube:
    """Async create/read/patch/delete of namespaced objects as JSON dicts."""

    def __init__(self, api: k8s_client.ApiClient, *, request_timeout: float = 30.0) -> None:
        self._api = api
        self._timeout = request_timeout

    @classmethod
    async def connect(cls, *, kubeconfig: str | None = None, request_timeout: float = 30.0) -> Kube:
        """A client from the in-cluster service account, else from the kubeconfig (`$KUBECONFIG`)."""
        configuration = await load_configuration(kubeconfig)
        return cls(k8s_client.ApiClient(configuration), request_timeout=request_timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._api.close()

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self._request("GET", resource.path(namespace, name))
        except NotFoundError:
            return None

    async def list(self, resource: Resource, namespace: str, *, label_selector: str | None = None) -> list[dict]:
        """The objects of a namespace, optionally filtered by a label selector."""
        query = {"labelSelector": label_selector} if label_selector else None
        answer = await self._request("GET", resource.path(namespace), query=query)
        return list((answer or {}).get("items") or [])

    async def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object a manifest describes; AlreadyExistsError when its name is taken."""
        resource = BY_KIND[manifest["kind"]]
        namespace = manifest["metadata"]["namespace"]
        try:
            return await self._request("POST", resource.path(namespace), body=dict(manifest))
        except ConflictError as exc:
            raise AlreadyExistsError(exc.status, exc.reason, exc.message) from None

    async def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (to the object or a subresource such as `status`)."""
        return await self._request(
            "PATCH", resource.path(namespace, name, subresource), body=dict(patch), content_type=MERGE_PATCH
        )

    async def delete(self, resource: Resource, namespace: str, name: str, *, uid: str | None = None) -> None:
        """Delete the object (only that incarnation when `uid` is given); absent objects are fine."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        try:
            await self._request("DELETE", resource.path(namespace, name), body=body)
        except NotFoundError:
            return

    async def serves(self, resource: Resource) -> bool:
        """Whether the API server serves a resource (API discovery of its group version; 404: it does not)."""
        root = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
        try:
            listing = await self._request("GET", root)
        except NotFoundError:
            return False
        return any(entry.get("name") == resource.plural for entry in (listing or {}).get("resources") or [])

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """The key names of a Secret (never its values), or None when it does not exist."""
        secret = await self.get(SECRETS, namespace, name)
        if secret is None:
            return None
        return frozenset((secret.get("data") or {}).keys()) | frozenset((secret.get("stringData") or {}).keys())

    @staticmethod
    def post_event(obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue a Kubernetes event on an object (posted in the background by Kopf)."""
        metadata = obj.get("metadata", {})
        ref = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": {k: metadata.get(k) for k in ("name", "namespace", "uid")},
        }
        kopf.event(ref, type=type_, reason=reason, message=message[:1024])  # type: ignore[arg-type]

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=dict(query) if query else None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            try:
                raw = await response.read()
            finally:
                response.release()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientApiError(0, type(exc).__name__, str(exc) or "connection failed") from exc
        if 200 <= response.status < 300:
            return json.loads(raw) if raw else None
        raise error_for(response.status, raw)


async def load_configuration(kubeconfig: str | None = None) -> k8s_client.Configuration:
    """Client configuration: in-cluster when there, else the kubeconfig given or in `$KUBECONFIG`."""
    configuration = k8s_client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        if path is not None:
            raise ConfigException("an explicit kubeconfig wins")
        k8s_config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        await k8s_config.load_kube_config(config_file=path, client_configuration=configuration)
    return configuration


async def connection_info(kubeconfig: str | None = None) -> kopf.ConnectionInfo:
    """Kopf's credentials from the same source as our client, so both always talk to one server."""
    configuration = await load_configuration(kubeconfig)
    header = await configuration.get_api_key_with_prefix("BearerToken") or ""
    scheme, _, token = header.partition(" ") if " " in header else ("Bearer", "", header)
    if configuration.host is None:
        raise ConfigException("the client configuration names no API server")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme if token else None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def error_for(status: int, raw: bytes) -> ApiError:
    """The error class for an HTTP status, with the reason and message of the server's Status body."""
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    reason = str(document.get("reason") or "")
    message = str(document.get("message") or raw[:200].decode("utf-8", "replace"))
    match status:
        case 404:
            return NotFoundError(status, reason or "NotFound", message)
        case 409 if reason == "AlreadyExists":
            return AlreadyExistsError(status, reason, message)
        case 409:
            return ConflictError(status, reason or "Conflict", message)
        case 400 | 422:
            return InvalidError(status, reason or "Invalid", message)
        case 401 | 403:
            return ForbiddenError(status, reason or "Forbidden", message)
        case _:
            return TransientApiError(status, reason or "ServerError", message)
