"""PATCH bodies by content type: JSON merge, JSON patch, strategic merge, server-side apply.

- `application/merge-patch+json`: RFC 7386 (null deletes a key, lists are replaced).
- `application/json-patch+json`: RFC 6902, through the `jsonpatch` library.
- `application/strategic-merge-patch+json`: applied as a merge patch with its
  `$patch`-style directives dropped. A real server merges some lists by key
  (containers by name); none of our code relies on that, and a test double that
  replaced lists where a server merges them would be caught by e2e tests.
- `application/apply-patch+yaml`: decoded here; `apply.py` applies it with field
  ownership (on the `status` subresource it is merged as a merge patch).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import yaml

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


class PatchError(ValueError):
    """A patch that does not decode or does not apply; the API answers 4xx with this text."""


def decode_body(body: bytes, content_type: str) -> Any:
    """Decode a request body: JSON normally, YAML (a JSON superset) for server-side apply."""
    text = body.decode("utf-8")
    try:
        if content_type == APPLY_PATCH:
            return yaml.safe_load(text)
        return json.loads(text) if text else None
    except (ValueError, yaml.YAMLError) as e:
        raise PatchError(f"couldn't decode the request body: {e}") from e


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new value and leaves both arguments untouched."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def drop_directives(value: Any) -> Any:
    """A strategic-merge patch without its `$patch`, `$retainKeys`... directives."""
    if isinstance(value, dict):
        return {k: drop_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [drop_directives(item) for item in value]
    return value


def apply_patch(current: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The object that results from applying a decoded patch of the given type."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("json patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(current, patch, in_place=False)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            raise PatchError(f"the server rejected our request due to an error in our request: {e}") from e
    elif content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        if not isinstance(patch, dict):
            raise PatchError("the patch must be a JSON object")
        if content_type != MERGE_PATCH:
            patch = drop_directives(patch)
        result = merge_patch(current, patch)
    else:
        raise PatchError(f"unsupported patch type {content_type!r}")
    if not isinstance(result, dict):
        raise PatchError("the patched object is not a JSON object")
    return result
