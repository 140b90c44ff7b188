"""Which resources the emulated API server serves, and how CRDs become resources.

A `ResourceType` carries what discovery advertises (kind, scope, short names,
the `status` subresource) plus, for custom resources, the `openAPIV3Schema` the
admission layer validates with. `BUILTIN_RESOURCES` lists the built-in kinds our
code touches; Kopf refuses to start watching until CRDs, namespaces and events
are discoverable, and looks for its peering resources under `kopf.dev`.

Custom resources are not declared here: creating a CustomResourceDefinition
object (through the API or `load_crd_documents`) registers its resource, as on
a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

# tests/harness/resources.py -> the repository root holds crds/.
DEFAULT_CRD_FOLDER = Path(__file__).resolve().parents[2] / "crds"

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (group, version, plural) and the semantics it needs."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    has_scale: bool = False
    """Serves the `scale` subresource (autoscaling/v1 Scale of `spec.replicas`, see scale.py)."""
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    custom: bool = False
    # The CRD version's `additionalPrinterColumns`, for `Table` responses (tables.py).
    printer_columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_name(self) -> str:
        """`modeltiers.tiergate.io`, or `configmaps` for the core group (as in messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`ModelTier.tiergate.io`, or `ConfigMap` for the core group (as in 422 messages)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def key(self) -> kmock.resource:
        """The resource as kmock keys it in `objects` and `resources`."""
        return kmock.resource(self.group, self.version, self.plural)

    def discovery_info(self) -> kmock.ResourceInfo:
        return kmock.ResourceInfo(
            namespaced=self.namespaced,
            kind=self.kind,
            singular=self.singular or self.kind.lower(),
            verbs=set(VERBS),
            shortnames=set(self.short_names),
            categories=set(self.categories),
            subresources={name for name, served in (("status", self.has_status), ("scale", self.has_scale))
                          if served},
        )

    def names(self) -> set[str]:
        """Every spelling a test may use to name this resource, lowercased."""
        return {self.plural, self.kind.lower(), self.singular or self.kind.lower(), *self.short_names}


def _builtin(group: str, version: str, plural: str, kind: str, *, namespaced: bool = True,
             has_status: bool = False, has_scale: bool = False, short_names: tuple[str, ...] = (),
             categories: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, kind.lower(), short_names, categories,
                        has_status=has_status, has_scale=has_scale)


CRD_RESOURCE = _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                        "CustomResourceDefinition", namespaced=False, has_status=True,
                        short_names=("crd", "crds"))
NAMESPACE_RESOURCE = _builtin("", "v1", "namespaces", "Namespace", namespaced=False,
                              has_status=True, short_names=("ns",))

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACE_RESOURCE,
    _builtin("", "v1", "pods", "Pod", has_status=True, short_names=("po",), categories=("all",)),
    _builtin("", "v1", "services", "Service", has_status=True, short_names=("svc",), categories=("all",)),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret"),
    _builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", has_status=True,
             short_names=("pvc",)),
    _builtin("", "v1", "events", "Event", short_names=("ev",)),
    _builtin("apps", "v1", "deployments", "Deployment", has_status=True, has_scale=True, short_names=("deploy",),
             categories=("all",)),
    _builtin("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    CRD_RESOURCE,
    # Kopf's peering CRDs keep their state in `status` without a status subresource.
    _builtin("kopf.dev", "v1", "kopfpeerings", "KopfPeering"),
    _builtin("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", namespaced=False),
)


def resource_types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition, one `ResourceType` each."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        result.append(ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", names["kind"].lower()),
            short_names=tuple(names.get("shortNames", ())),
            categories=tuple(names.get("categories", ())),
            has_status="status" in (version.get("subresources") or {}),
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            custom=True,
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        ))
    return result


def load_crd_documents(*paths: Path | str) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the given YAML files or folders (`*.yaml`, `*.yml`).

    Other documents in the same files are skipped, so a folder may mix CRDs with examples.
    Missing paths load nothing: the repository's `crds/` may not exist yet.
    """
    files: list[Path] = []
    for path in map(Path, paths or (DEFAULT_CRD_FOLDER,)):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
    documents = []
    for file in files:
        with file.open(encoding="utf-8") as stream:
            for document in yaml.safe_load_all(stream):
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    documents.append(document)
    return documents


class ResourceRegistry:
    """The resources currently served, kept in step with kmock's discovery tables.

    `on_add`/`on_remove` let the emulator mirror registrations into
    `kmock.KubernetesScaffold.resources`, which serves `/api`, `/apis` & co.
    """

    def __init__(
        self,
        on_add: Callable[[ResourceType], None] | None = None,
        on_remove: Callable[[ResourceType], None] | None = None,
    ) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._on_add = on_add
        self._on_remove = on_remove

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def add(self, rtypes: Iterable[ResourceType]) -> None:
        for rtype in rtypes:
            self._types[rtype.group, rtype.version, rtype.plural] = rtype
            if self._on_add is not None:
                self._on_add(rtype)

    def remove(self, rtypes: Iterable[ResourceType]) -> None:
        for rtype in rtypes:
            removed = self._types.pop((rtype.group, rtype.version, rtype.plural), None)
            if removed is not None and self._on_remove is not None:
                self._on_remove(rtype)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def for_object(self, obj: Mapping[str, Any]) -> ResourceType | None:
        """The resource an object belongs to, from its `apiVersion` and `kind`."""
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        for rtype in self._types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    def resolve(self, name: str) -> ResourceType:
        """Find a resource by any name a test would use.

        Accepts `modeltiers`, `ModelTier`, `mt`, `modeltiers.tiergate.io`,
        `tiergate.io/v1alpha1/modeltiers`, `v1/configmaps`, `apps/v1/deployments`.
        The core group wins ties (`events` is core v1 events).
        """
        wanted = kmock.resource(name) if ("/" in name or "." in name) else kmock.resource(plural=name)
        plural = (wanted.plural or "").lower()
        candidates = [
            rtype for rtype in self._types.values()
            if plural in rtype.names()
            and (wanted.group is None or wanted.group == rtype.group)
            and (wanted.version is None or wanted.version == rtype.version)
        ]
        if not candidates:
            raise LookupError(f"No served resource is called {name!r}.")
        candidates.sort(key=lambda rtype: (rtype.group != "", rtype.group, rtype.version))
        return candidates[0]
