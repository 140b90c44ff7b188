"""`meta.k8s.io/v1` `Table` responses: what `kubectl get` prints comes from the server.

`kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
and prints the columns it gets back. A real apiserver builds them:

- for custom resources, from the CRD version's `additionalPrinterColumns`
  (each `jsonPath` evaluated on the object; the first match is the cell; `date`
  columns become ages such as `5m2s`), after a `Name` column; without printer
  columns, `Name` and `Age`;
- for built-ins, from printers compiled into the server. The emulator has a
  few (CRDs, namespaces, secrets, config maps, core events, deployments) and
  shows `Name` and `Age` for the rest.

Rows carry the object as `PartialObjectMetadata` (or whole, or not at all, as
`?includeObject=` asks), which kubectl uses for `-A`, `--show-labels` and `-L`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import jsonpath
from harness.resources import ResourceType

TABLE_VERSIONS = ("v1", "v1beta1")
NAME_DESCRIPTION = ("Name must be unique within a namespace. Is required when creating resources, although some "
                    "resources may allow a client to request the generation of an appropriate name automatically.")
AGE_DESCRIPTION = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
                   "It is represented in RFC3339 form and is in UTC.")

Cell = str | int | float | bool | None


@dataclass(frozen=True)
class Column:
    """One column: its `columnDefinitions` entry and how a cell is computed from an object."""

    name: str
    type: str
    cell: Callable[[Mapping[str, Any]], Cell]
    description: str = ""
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


def requested_table_version(accept: str | None) -> str | None:
    """The `meta.k8s.io` Table version the Accept header asks for first, or None for plain JSON."""
    for media_range in (accept or "").split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        values = dict(param.partition("=")[::2] for param in params)
        if kind == "application/json" and values.get("as") == "Table" and values.get("g") == "meta.k8s.io" \
                and values.get("v") in TABLE_VERSIONS:
            return values["v"]
    return None


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`, which kubectl and the apiserver use for ages."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def age(timestamp: Any) -> Cell:
    """The age of an RFC 3339 timestamp as the apiserver renders `date` cells."""
    if not isinstance(timestamp, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.datetime.now(tz=datetime.UTC) - when).total_seconds())


def _json_cell(column_type: str, value: Any) -> Cell:
    """apiextensions' `cellForJSONValue`: a cell of the column's type, or None (kubectl: <none>)."""
    match column_type, value:
        case "integer", int() | float() if not isinstance(value, bool):
            return int(value)
        case "number", int() | float() if not isinstance(value, bool):
            return float(value)
        case "boolean", bool():
            return value
        case "date", str():
            return age(value)
        case "string", _ if value is not None:
            return jsonpath.to_text(value)
    return None


def _path_cell(column_type: str, path: str) -> Callable[[Mapping[str, Any]], Cell]:
    def cell(obj: Mapping[str, Any]) -> Cell:
        try:
            found = jsonpath.find(obj, path)
        except jsonpath.JsonPathError:
            return None
        return _json_cell(column_type, found[0]) if found else None
    return cell


def _meta(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda obj: (obj.get("metadata") or {}).get(key)


NAME = Column("Name", "string", _meta("name"), NAME_DESCRIPTION, "name")
AGE = Column("Age", "string", lambda obj: age(_meta("creationTimestamp")(obj)), AGE_DESCRIPTION)


def _ready_replicas(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"


def _event_object(obj: Mapping[str, Any]) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(obj: Mapping[str, Any]) -> Cell:
    return age(obj.get("lastTimestamp") or obj.get("eventTime") or _meta("creationTimestamp")(obj))


# The built-in printers of a real apiserver, for the kinds people list here most.
BUILTIN_COLUMNS: dict[tuple[str, str], tuple[Column, ...]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): (
        NAME, Column("Created At", "date", _meta("creationTimestamp"), AGE_DESCRIPTION)),
    ("", "namespaces"): (
        NAME, Column("Status", "string", lambda obj: (obj.get("status") or {}).get("phase", "Active")), AGE),
    ("", "secrets"): (
        NAME, Column("Type", "string", lambda obj: obj.get("type", "Opaque")),
        Column("Data", "string", lambda obj: len(obj.get("data") or {}) + len(obj.get("stringData") or {})), AGE),
    ("", "configmaps"): (
        NAME, Column("Data", "string",
                     lambda obj: len(obj.get("data") or {}) + len(obj.get("binaryData") or {})), AGE),
    ("", "events"): (
        Column("Last Seen", "string", _event_last_seen), Column("Type", "string", lambda obj: obj.get("type")),
        Column("Reason", "string", lambda obj: obj.get("reason")), Column("Object", "string", _event_object),
        Column("Message", "string", lambda obj: obj.get("message"))),
    ("apps", "deployments"): (
        NAME, Column("Ready", "string", _ready_replicas),
        Column("Up-to-date", "integer", lambda obj: (obj.get("status") or {}).get("updatedReplicas", 0)),
        Column("Available", "integer", lambda obj: (obj.get("status") or {}).get("availableReplicas", 0)), AGE),
}


def columns(rtype: ResourceType) -> tuple[Column, ...]:
    """The columns the apiserver would print for a resource."""
    if rtype.printer_columns:
        return (NAME, *(
            Column(name=spec["name"], type=spec.get("type", "string"),
                   cell=_path_cell(spec.get("type", "string"), spec.get("jsonPath", "")),
                   description=spec.get("description", ""), format=spec.get("format", ""),
                   priority=int(spec.get("priority", 0)))
            for spec in rtype.printer_columns))
    return BUILTIN_COLUMNS.get((rtype.group, rtype.plural), (NAME, AGE))


def _row_object(obj: Mapping[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return dict(obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(rtype: ResourceType, objects: Iterable[Mapping[str, Any]], *, version: str = "v1",
          list_metadata: Mapping[str, Any] | None = None, include_object: str | None = None,
          with_columns: bool = True) -> dict[str, Any]:
    """A `Table` of the objects; `include_object` is `?includeObject=` (Metadata by default)."""
    cols: Sequence[Column] = columns(rtype)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [column.cell(obj) for column in cols]}
        embedded = _row_object(obj, include_object or "Metadata")
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    result: dict[str, Any] = {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}",
                              "metadata": dict(list_metadata or {}), "rows": rows}
    if with_columns:
        result["columnDefinitions"] = [column.definition() for column in cols]
    return result
