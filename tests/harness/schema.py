"""Structural-schema semantics of CRDs: pruning, defaulting and OpenAPI validation.

A real API server does three things with a custom resource's body before it
stores it, in this order, and so does this module:

1. prune: drop fields the schema does not declare, unless
   `x-kubernetes-preserve-unknown-fields` keeps them;
2. default: fill absent fields (and `null`s in non-nullable fields) from
   `default`, recursing into what was just defaulted;
3. validate: types, `required`, `enum`, numeric and length bounds, `pattern`,
   item and property counts, `uniqueItems`, `x-kubernetes-list-type` set/map
   uniqueness, `nullable`, the common `format`s, `x-kubernetes-int-or-string`
   and the `allOf`/`anyOf`/`oneOf`/`not` combinators.

Errors carry the field path and the apiserver's wording (`spec.size in body
should match '^...$'`). We write this rather than use `jsonschema` because
the Kubernetes dialect differs in what users see: the extensions above,
pruning and defaulting, and the messages. CEL rules live in `cel.py`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from harness.errors import FieldError, invalid_value

Schema = Mapping[str, Any]

# Top-level keys of every object that the schema never prunes (metadata is ObjectMeta's business).
ROOT_KEYS = ("apiVersion", "kind", "metadata")


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value, as validation messages show it."""
    match value:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int():
            return "integer"
        case float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
        case _:
            return "object"


def _number(bound: Any) -> str:
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


# ---------------------------------------------------------------------------------------------
# Pruning and defaulting (in place).

def _field_schema(schema: Schema, key: str) -> Schema | bool:
    """The schema of an object's key; True if it is kept without one, False if pruning drops it."""
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    if key in properties:
        return properties[key]
    if isinstance(additional, Mapping):
        return additional
    return additional is True or schema.get("x-kubernetes-preserve-unknown-fields") is True


def prune(value: Any, schema: Schema, *, root: bool = False) -> None:
    """Drop the fields the schema does not declare, in place."""
    if isinstance(value, dict):
        for key in list(value):
            if root and key in ROOT_KEYS:
                continue
            subschema = _field_schema(schema, key)
            if isinstance(subschema, Mapping):
                prune(value[key], subschema)
            elif not subschema:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            prune(item, schema["items"])


def unknown_fields(value: Any, schema: Schema, path: str = "", *, root: bool = False) -> list[str]:
    """What `prune` would drop, named as strict field validation names it: `spec.foo`, `spec.env[0].x`."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if root and key in ROOT_KEYS:
                continue
            subschema = _field_schema(schema, key)
            if isinstance(subschema, Mapping):
                found += unknown_fields(item, subschema, child_path(path, key))
            elif not subschema:
                found.append(child_path(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def apply_defaults(value: Any, schema: Schema, *, root: bool = False) -> None:
    """Fill absent fields from the schema's `default`s, in place, as structural defaulting does."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, subschema in properties.items():
            if root and key in ROOT_KEYS:
                continue
            missing = key not in value or (value[key] is None and not subschema.get("nullable"))
            if "default" in subschema and missing:
                value[key] = copy.deepcopy(subschema["default"])
        for key, item in value.items():
            if root and key in ROOT_KEYS:
                continue
            subschema = properties.get(key) or (additional if isinstance(additional, Mapping) else None)
            if subschema is not None:
                apply_defaults(item, subschema)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            apply_defaults(item, schema["items"])


# ---------------------------------------------------------------------------------------------
# Validation.

def _is_type(value: Any, expected: str) -> bool:
    match expected:
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "boolean":
            return isinstance(value, bool)
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
    return True


def _check_format(value: Any, fmt: str) -> bool:
    """Whether a value fits one of the formats the apiserver checks (unknown formats pass)."""
    checks: dict[str, Callable[[Any], object]] = {
        "int32": lambda v: -(2**31) <= v < 2**31 or _fail(),
        "int64": lambda v: -(2**63) <= v < 2**63 or _fail(),
        "date-time": lambda v: datetime.datetime.fromisoformat(v),
        "date": lambda v: datetime.date.fromisoformat(v),
        "byte": lambda v: base64.b64decode(v, validate=True),
        "uuid": lambda v: uuid.UUID(v),
        "ipv4": lambda v: ipaddress.IPv4Address(v),
        "ipv6": lambda v: ipaddress.IPv6Address(v),
        "hostname": lambda v: re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", v)
        or _fail(),
    }
    check = checks.get(fmt)
    if check is None:
        return True
    try:
        check(value)
    except (ValueError, TypeError, binascii.Error):
        return False
    return True


def _fail() -> None:
    raise ValueError("format mismatch")


def _list_map_key(item: Any, keys: list[str]) -> str:
    fields = {key: item.get(key) for key in keys} if isinstance(item, dict) else {}
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in fields.items())
    return f"map[string]interface {{}}{{{inner}}}"


def validate(value: Any, schema: Schema, path: str = "") -> list[FieldError]:
    """All schema violations of a value, in document order; an empty list means valid."""
    errors: list[FieldError] = []
    _validate(value, schema, path, errors, root=not path)
    return errors


def _validate(value: Any, schema: Schema, path: str, errors: list[FieldError], *, root: bool = False) -> None:
    shown = path or "body"
    if value is None:
        if schema.get("nullable") or not (schema.get("type") or schema.get("x-kubernetes-int-or-string")):
            return
        errors.append(invalid_value(path, "null", f'{shown} in body must be of type {schema.get("type")}: "null"'))
        return

    if schema.get("x-kubernetes-int-or-string"):
        if not (_is_type(value, "integer") or _is_type(value, "string")):
            errors.append(invalid_value(path, json_type(value),
                                        f'{shown} in body must be of type int-or-string: "{json_type(value)}"'))
            return
    elif (expected := schema.get("type")) and not _is_type(value, expected):
        errors.append(invalid_value(path, json_type(value),
                                    f'{shown} in body must be of type {expected}: "{json_type(value)}"'))
        return

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(option) for option in schema["enum"])
        errors.append(FieldError(path, "Unsupported value", f"supported values: {supported}", value, True))

    if isinstance(value, str):
        _validate_string(value, schema, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(value, schema, path, errors)
    elif isinstance(value, list):
        _validate_array(value, schema, path, errors)
    elif isinstance(value, dict):
        _validate_object(value, schema, path, errors, root=root)

    _validate_combinators(value, schema, path, errors)


def _validate_string(value: str, schema: Schema, path: str, errors: list[FieldError]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(FieldError(path, "Too long", f"may not be more than {schema['maxLength']} bytes"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(invalid_value(path, value,
                                    f"{path} in body should be at least {schema['minLength']} chars long"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(invalid_value(path, value, f"{path} in body should match '{schema['pattern']}'"))
    if "format" in schema and not _check_format(value, schema["format"]):
        errors.append(invalid_value(path, value, f'{path} in body must be of type {schema["format"]}: '
                                                 f"{json.dumps(value)}"))


def _validate_number(value: float, schema: Schema, path: str, errors: list[FieldError]) -> None:
    def bound(keyword: str, exclusive_keyword: str) -> tuple[float | None, bool]:
        limit, exclusive = schema.get(keyword), schema.get(exclusive_keyword)
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            return exclusive, True  # JSON-Schema style: the exclusive bound is the number itself
        return limit, exclusive is True

    low, low_exclusive = bound("minimum", "exclusiveMinimum")
    if low is not None and (value <= low if low_exclusive else value < low):
        words = "greater than" if low_exclusive else "greater than or equal to"
        errors.append(invalid_value(path, value, f"{path} in body should be {words} {_number(low)}"))
    high, high_exclusive = bound("maximum", "exclusiveMaximum")
    if high is not None and (value >= high if high_exclusive else value > high):
        words = "less than" if high_exclusive else "less than or equal to"
        errors.append(invalid_value(path, value, f"{path} in body should be {words} {_number(high)}"))
    if (step := schema.get("multipleOf")) and (value / step) != int(value / step):
        errors.append(invalid_value(path, value, f"{path} in body should be a multiple of {_number(step)}"))
    if "format" in schema and not _check_format(value, schema["format"]):
        errors.append(invalid_value(path, value, f'{path} in body must be of type {schema["format"]}: {value}'))


def _validate_array(value: list[Any], schema: Schema, path: str, errors: list[FieldError]) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(FieldError(path, "Too many", f"must have at most {schema['maxItems']} items",
                                 len(value), True))
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(invalid_value(path, len(value),
                                    f"{path} in body should have at least {schema['minItems']} items"))

    list_type = schema.get("x-kubernetes-list-type")
    seen: set[str] = set()
    for index, item in enumerate(value):
        if list_type == "map":
            identity = _list_map_key(item, schema.get("x-kubernetes-list-map-keys", []))
            shown = identity
        elif list_type == "set" or schema.get("uniqueItems"):
            identity = json.dumps(item, sort_keys=True)
            shown = identity if not isinstance(item, dict | list) else f'"{json_type(item)}"'
        else:
            continue
        if identity in seen:
            errors.append(FieldError(f"{path}[{index}]", "Duplicate value", shown))
        seen.add(identity)

    if isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{index}]", errors)


def _validate_object(value: dict[str, Any], schema: Schema, path: str, errors: list[FieldError],
                     *, root: bool) -> None:
    properties = schema.get("properties") or {}
    for key in schema.get("required", []):
        if key not in value:
            errors.append(FieldError(child_path(path, key), "Required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(FieldError(path, "Too many", f"must have at most {schema['maxProperties']} items",
                                 len(value), True))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(invalid_value(path, len(value),
                                    f"{path} in body should have at least {schema['minProperties']} properties"))

    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if root and key in ("apiVersion", "kind"):
            continue
        if key in properties:
            _validate(item, properties[key], child_path(path, key), errors)
        elif isinstance(additional, Mapping):
            _validate(item, additional, f"{path}[{key}]" if path else key, errors)


def _validate_combinators(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    shown = path or "body"
    for subschema in schema.get("allOf", []):
        _validate(value, subschema, path, errors)
    if "anyOf" in schema and not any(not validate(value, sub, path) for sub in schema["anyOf"]):
        errors.append(invalid_value(path, value, f"{shown} in body must validate at least one schema (anyOf)"))
    if "oneOf" in schema and sum(not validate(value, sub, path) for sub in schema["oneOf"]) != 1:
        errors.append(invalid_value(path, value, f"{shown} in body must validate one and only one schema (oneOf)"))
    if "not" in schema and not validate(value, schema["not"], path):
        errors.append(invalid_value(path, value, f"{shown} in body must not validate the schema (not)"))
