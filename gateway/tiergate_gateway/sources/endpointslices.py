"""The replicas of in-cluster tiers, from the EndpointSlices of their Services.

The EndpointSlice controller copies a Service's labels onto its slices, so the operator's
`app.kubernetes.io/managed-by: tiergate-operator` selects exactly the slices of tier Services.
An endpoint takes requests when it is ready (`conditions.ready` true or absent, as the API
says an unknown readiness is to be read) and not terminating; the address and the slice's
`http` port (else its first port) make its `host:port`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from tiergate_api.constants import LABEL_MANAGED_BY, MANAGED_BY

SELECTOR: Final = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
SERVICE_LABEL: Final = "kubernetes.io/service-name"


def ready_addresses(slices: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """`namespace/service` to the sorted `host:port` of its ready, not terminating endpoints."""
    found: dict[str, set[str]] = {}
    for slice_ in slices:
        metadata = slice_.get("metadata") or {}
        service = (metadata.get("labels") or {}).get(SERVICE_LABEL)
        if not isinstance(service, str) or not service:
            continue
        addresses = found.setdefault(f"{metadata.get('namespace', '')}/{service}", set())
        port = _port(slice_.get("ports"))
        if port is None:
            continue
        for endpoint in slice_.get("endpoints") or ():
            if not isinstance(endpoint, Mapping) or not _serving(endpoint.get("conditions")):
                continue
            for address in endpoint.get("addresses") or ():
                if isinstance(address, str) and address:
                    addresses.add(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
    return {service: sorted(addresses) for service, addresses in found.items()}


def _port(ports: Any) -> int | None:
    if not isinstance(ports, list) or not ports:
        return None
    chosen = next((p for p in ports if isinstance(p, Mapping) and p.get("name") == "http"), ports[0])
    port = chosen.get("port") if isinstance(chosen, Mapping) else None
    return port if isinstance(port, int) and 0 < port < 65536 else None


def _serving(conditions: Any) -> bool:
    if not isinstance(conditions, Mapping):
        return True
    return conditions.get("ready") is not False and conditions.get("terminating") is not True
