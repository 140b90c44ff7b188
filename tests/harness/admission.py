"""What the API server checks and rewrites in a body before storing it.

For every resource: object names and label syntax (ObjectMeta validation) and
the ObjectMeta field set. For custom resources, additionally: pruning,
defaulting, schema validation and CEL rules of the CRD's `openAPIV3Schema`
(see `schema.py`, `cel.py`). Built-in kinds are not validated beyond
ObjectMeta and not defaulted; the official client's models already shape them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness import errors
from harness.cel import MISSING, CelValidator
from harness.errors import FieldError, invalid_value
from harness.resources import NAMESPACE_RESOURCE, ResourceType
from harness.schema import apply_defaults, prune, unknown_fields, validate

OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields", "selfLink",
})

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_DNS_LABEL_RE = re.compile(rf"^{_DNS_LABEL}$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def _validate_name(rtype: ResourceType, name: str) -> list[FieldError]:
    if rtype is NAMESPACE_RESOURCE or rtype.plural == "namespaces":
        if len(name) > 63 or not _DNS_LABEL_RE.match(name):
            return [invalid_value("metadata.name", name, LABEL_HELP)]
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return [invalid_value("metadata.name", name, SUBDOMAIN_HELP)]
    return []


def _validate_labels(labels: Any) -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid_value("metadata.labels", labels, "must be a map of strings")]
    problems = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
            problems.append(invalid_value("metadata.labels", key, "name part must consist of alphanumeric "
                                          "characters, '-', '_' or '.', and must start and end with an "
                                          "alphanumeric character"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(invalid_value("metadata.labels", value, "a valid label must be an empty string "
                                          "or consist of alphanumeric characters, '-', '_' or '.', and must "
                                          "start and end with an alphanumeric character"))
    return problems


class Admission:
    """Prepares and validates bodies for one emulator; keeps a CEL validator per resource."""

    def __init__(self) -> None:
        self._cel: dict[tuple[str, str, str], CelValidator] = {}

    def prepare(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Rewrite a body in place as the server does on decode: ObjectMeta, pruning, defaults."""
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            for key in set(metadata) - OBJECT_META_FIELDS:
                del metadata[key]
        if rtype.schema is not None:
            prune(obj, rtype.schema, root=True)
            apply_defaults(obj, rtype.schema, root=True)

    @staticmethod
    def unknown_fields(rtype: ResourceType, body: Any) -> list[str]:
        """The fields of a request body that `prepare` would drop, for `?fieldValidation=Strict|Warn`."""
        if not isinstance(body, dict):
            return []
        metadata = body.get("metadata")
        found = [f"metadata.{key}" for key in metadata if key not in OBJECT_META_FIELDS] \
            if isinstance(metadata, dict) else []
        if rtype.schema is not None:
            found += unknown_fields(body, rtype.schema, root=True)
        return found

    def check(self, rtype: ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
        """Raise 422 Invalid with every problem of the object (old is the stored one on updates)."""
        metadata = obj.get("metadata") or {}
        problems = _validate_name(rtype, metadata.get("name", ""))
        problems += _validate_labels(metadata.get("labels"))
        if rtype.schema is not None:
            problems += validate(obj, rtype.schema)
            problems += self._validator(rtype).validate(obj, MISSING if old is None else old)
        if problems:
            raise errors.invalid(rtype, metadata.get("name", ""), problems)

    def _validator(self, rtype: ResourceType) -> CelValidator:
        key = (rtype.group, rtype.version, rtype.plural)
        if key not in self._cel:
            assert rtype.schema is not None
            self._cel[key] = CelValidator(rtype.schema, name=rtype.qualified_kind)
        return self._cel[key]

    def forget(self, rtype: ResourceType) -> None:
        """Drop the compiled rules of a resource whose CRD changed or went away."""
        self._cel.pop((rtype.group, rtype.version, rtype.plural), None)
