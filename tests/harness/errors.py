"""Kubernetes `Status` failures worded the way a real API server words them.

Clients branch on `code` and `reason` (the official client raises `ApiException`
with the status, Kopf maps 404/409/422 to its own errors), and people read
`message`, so both follow the apiserver: `configmaps "x" not found`,
`ModelTier.tiergate.io "x" is invalid: spec.size: Invalid value: ...`.

Every failure is a `kmock.KubernetesError`, so kmock's own reactions and ours
render through the same path (see `emulator.KubeApiEmulator._render_error`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmock import KubernetesError

if TYPE_CHECKING:
    from harness.resources import ResourceType

# The `reason` of a cause, by the word that starts its message (k8s.io/apimachinery field errors).
CAUSE_REASONS = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Duplicate value": "FieldValueDuplicate",
    "Forbidden": "FieldValueForbidden",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
}


@dataclass(frozen=True)
class FieldError:
    """One invalid field: where (`spec.vllm.gpu.count`) and what is wrong with it."""

    field: str
    kind: str  # one of CAUSE_REASONS' keys: the apiserver's leading words
    detail: str = ""
    value: Any = None
    show_value: bool = False

    @property
    def reason(self) -> str:
        return CAUSE_REASONS.get(self.kind, "FieldValueInvalid")

    @property
    def cause_message(self) -> str:
        """The message without the field, as in `details.causes[].message`."""
        parts = [self.kind]
        if self.show_value:
            parts.append(render_value(self.value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    @property
    def message(self) -> str:
        return f"{self.field}: {self.cause_message}" if self.field else self.cause_message

    def as_cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.cause_message, "field": self.field}


def invalid_value(field: str, value: Any, detail: str) -> FieldError:
    """`field: Invalid value: <value>: <detail>`, the most common validation failure."""
    return FieldError(field, "Invalid value", detail, value, show_value=True)


def render_value(value: Any) -> str:
    """Show a value the way Go's validation errors do: strings quoted, containers by type."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `v1/Status` failure body, as sent in error responses and watch ERROR events."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _details(rtype: ResourceType | None, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if rtype is not None:
        if rtype.group:
            details["group"] = rtype.group
        details["kind"] = rtype.plural
    return details


def not_found(rtype: ResourceType, name: str) -> KubernetesError:
    return KubernetesError(
        status=404, reason="NotFound", message=f'{rtype.qualified_name} "{name}" not found',
        details=_details(rtype, name),
    )


def unknown_resource() -> KubernetesError:
    return KubernetesError(
        status=404, reason="NotFound", message="the server could not find the requested resource",
        details={},
    )


def already_exists(rtype: ResourceType, name: str) -> KubernetesError:
    return KubernetesError(
        status=409, reason="AlreadyExists", message=f'{rtype.qualified_name} "{name}" already exists',
        details=_details(rtype, name),
    )


def conflict(rtype: ResourceType, name: str, why: str | None = None) -> KubernetesError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return KubernetesError(
        status=409, reason="Conflict",
        message=f'Operation cannot be fulfilled on {rtype.qualified_name} "{name}": {why}',
        details=_details(rtype, name),
    )


def invalid(rtype: ResourceType, name: str, errors: list[FieldError]) -> KubernetesError:
    """422 Invalid, one `details.causes` entry per field error, all of them in the message."""
    messages = [error.message for error in errors]
    joined = messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]"
    details = _details(rtype, name)
    details["kind"] = rtype.kind
    details["causes"] = [error.as_cause() for error in errors]
    return KubernetesError(
        status=422, reason="Invalid", message=f'{rtype.qualified_kind} "{name}" is invalid: {joined}',
        details=details,
    )


def strict_decoding(rtype: ResourceType, fields: list[str]) -> KubernetesError:
    """400 for `?fieldValidation=Strict` with unknown fields, worded as the apiserver's decoder words it."""
    unknown = ", ".join(f'unknown field "{field}"' for field in fields)
    return bad_request(f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                       f"strict decoding error: {unknown}")


def warning_header(message: str) -> str:
    """A `Warning:` response header value (RFC 7234 code 299), which kubectl prints as `Warning: ...`."""
    return '299 - ' + json.dumps(message)


def invalid_options(field: str, detail: str) -> KubernetesError:
    """422 for bad request options, such as an apply patch without `?fieldManager=`."""
    return KubernetesError(
        status=422, reason="Invalid",
        message=f'PatchOptions.meta.k8s.io "" is invalid: {field}: Required value: {detail}',
        details={"group": "meta.k8s.io", "kind": "PatchOptions",
                 "causes": [{"reason": "FieldValueRequired", "message": f"Required value: {detail}",
                             "field": field}]},
    )


def apply_conflicts(rtype: ResourceType, name: str, message: str,
                    conflicts: list[tuple[str, str]]) -> KubernetesError:
    """409 for server-side apply conflicts, one cause per field (kubectl prints how to resolve them)."""
    details = _details(rtype, name)
    details["causes"] = [{"reason": "FieldManagerConflict", "message": f'conflict with "{manager}"',
                          "field": field} for manager, field in conflicts]
    return KubernetesError(status=409, reason="Conflict", message=message, details=details)


def bad_request(message: str) -> KubernetesError:
    return KubernetesError(status=400, reason="BadRequest", message=message, details={})


def method_not_allowed() -> KubernetesError:
    message = "the server does not allow this method on the requested resource"
    return KubernetesError(status=405, reason="MethodNotAllowed", message=message, details={})


def unsupported_media_type(content_type: str, accepted: tuple[str, ...] = ()) -> KubernetesError:
    accepted = accepted or ("application/json-patch+json", "application/merge-patch+json",
                            "application/apply-patch+yaml")
    return KubernetesError(
        status=415, reason="UnsupportedMediaType",
        message=f'the body of the request was in an unknown format - accepted media types include: '
                f'{", ".join(accepted)}; got "{content_type}"',
        details={},
    )


def internal(message: str) -> KubernetesError:
    return KubernetesError(status=500, reason="InternalError", message=message, details={})


def expired(since: int, oldest: int) -> dict[str, Any]:
    """The body of the watch ERROR event for a resourceVersion lost to compaction (410 Gone)."""
    return status_body(410, "Expired", f"too old resource version: {since} ({oldest})")
