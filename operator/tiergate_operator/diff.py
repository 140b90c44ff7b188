"""Compare a rendered manifest with the live object and build the patch that fixes it (pure).

The operator owns the fields it renders, not the whole object: the API server adds
defaults (`terminationMessagePath`, `clusterIP`, ...) and other controllers add labels
and annotations. So the comparison is a *subset* check: every field we render must be
present in the live object with the same value. A few maps and lists are ours alone
(`nodeSelector`, `tolerations`, a Service's `selector`); there an extra live entry is
drift too, and the patch removes it. Resource quantities compare by value ("1Gi" equals
"1024Mi"), because the API server rewrites them into canonical form.

Fields another controller owns after creation (`unowned`: a Deployment's replicas while
KEDA scales it) are neither compared nor written.

Writes are JSON merge patches (RFC 7386): lists are replaced whole, maps are merged, and
`null` removes a key. Each patch carries the live `resourceVersion`, so a concurrent
change makes it fail with 409 instead of silently overwriting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from kubernetes.utils.quantity import parse_quantity

Path = tuple[str, ...]

# Where the operator's word is final: extra keys in the live object are drift, and a
# value absent from the rendering is removed from the live object.
EXCLUSIVE: Final[Mapping[str, tuple[Path, ...]]] = {
    "Deployment": (("spec", "template", "spec", "nodeSelector"), ("spec", "template", "spec", "tolerations")),
    "Service": (("spec", "selector"),),
    "PersistentVolumeClaim": (),
}
# Fields that the API server refuses to change after creation; never patched.
IMMUTABLE: Final[Mapping[str, tuple[Path, ...]]] = {
    "Deployment": (("spec", "selector"),),
    "Service": (),
    "PersistentVolumeClaim": (("spec", "accessModes"), ("spec", "storageClassName")),
}
_QUANTITY_KEYS: Final = frozenset({"sizeLimit", "storage"})
_QUANTITY_PARENTS: Final = frozenset({"limits", "requests", "capacity"})


def controller_uid(live: Mapping[str, Any]) -> str | None:
    """The uid of the object's controller (its managing owner), if it has one."""
    for ref in live.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def differences(desired: Mapping[str, Any], live: Mapping[str, Any], *, unowned: Iterable[Path] = ()) -> list[str]:
    """Dotted paths of the owned fields where `live` differs from `desired`; empty means in sync."""
    kind = desired.get("kind", "")
    exclusive = set(EXCLUSIVE.get(kind, ()))
    found: list[str] = []
    d_meta, l_meta = desired.get("metadata", {}), live.get("metadata", {})
    for key in ("labels", "annotations"):
        _compare(d_meta.get(key) or {}, l_meta.get(key) or {}, ("metadata", key), exclusive, found)
    ours = {ref.get("uid") for ref in d_meta.get("ownerReferences") or []}
    theirs = {ref.get("uid") for ref in l_meta.get("ownerReferences") or []}
    if not ours <= theirs:
        found.append("metadata.ownerReferences")
    _compare(desired.get("spec") or {}, live.get("spec") or {}, ("spec",), exclusive, found)
    for path in exclusive:
        if _get(desired, path) is None and _get(live, path):
            found.append(".".join(path))
    skipped = {".".join(p) for p in (*IMMUTABLE.get(kind, ()), *unowned)}
    return [path for path in found if not any(path == i or path.startswith(i + ".") for i in skipped)]


def merge_patch(desired: Mapping[str, Any], live: Mapping[str, Any], *, unowned: Iterable[Path] = ()) -> dict[str, Any]:
    """The JSON merge patch that makes `live` match `desired` in the fields the operator owns."""
    kind = desired.get("kind", "")
    d_meta, l_meta = desired.get("metadata", {}), live.get("metadata", {})
    owner_refs = list(l_meta.get("ownerReferences") or [])
    known = {ref.get("uid") for ref in owner_refs}
    owner_refs += [ref for ref in d_meta.get("ownerReferences") or [] if ref.get("uid") not in known]
    patch: dict[str, Any] = {
        "metadata": {
            "resourceVersion": l_meta.get("resourceVersion"),
            "labels": dict(d_meta.get("labels") or {}),
            "annotations": dict(d_meta.get("annotations") or {}),
            "ownerReferences": owner_refs,
        },
        "spec": _deep_copy(desired.get("spec") or {}),
    }
    for path in EXCLUSIVE.get(kind, ()):
        wanted = _get(desired, path)
        current = _get(live, path)
        if wanted is None and current is not None:
            _set(patch, path, None)
        elif isinstance(wanted, dict) and isinstance(current, dict):
            _set(patch, path, {**{key: None for key in current if key not in wanted}, **wanted})
    for path in (*IMMUTABLE.get(kind, ()), *unowned):
        _delete(patch, path)
    return patch


def _compare(desired: Any, live: Any, path: Path, exclusive: set[Path], found: list[str]) -> None:
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            if desired or live is not None:
                found.append(".".join(path))
            return
        for key, value in desired.items():
            _compare(value, live.get(key), (*path, key), exclusive, found)
        if path in exclusive and any(key not in desired for key in live):
            found.append(".".join(path))
        return
    if isinstance(desired, list):
        live_list = live if isinstance(live, list) else ([] if live is None else None)
        if live_list is None or len(live_list) != len(desired):
            found.append(".".join(path))
            return
        for index, (d_item, l_item) in enumerate(zip(desired, live_list, strict=True)):
            _compare(d_item, l_item, (*path, str(index)), exclusive, found)
        return
    if not _same_scalar(desired, live, path):
        found.append(".".join(path))


def _same_scalar(desired: Any, live: Any, path: Path) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if _is_quantity(path) and desired is not None and live is not None:
        try:
            return parse_quantity(desired) == parse_quantity(live)
        except ValueError:
            return False
    return False


def _is_quantity(path: Path) -> bool:
    return bool(path) and (path[-1] in _QUANTITY_KEYS or (len(path) > 1 and path[-2] in _QUANTITY_PARENTS))


def _get(document: Mapping[str, Any], path: Iterable[str]) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set(document: dict[str, Any], path: Path, value: Any) -> None:
    node = document
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _delete(document: dict[str, Any], path: Path) -> None:
    node: Any = document
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value
