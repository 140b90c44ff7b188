"""Write docs/api-reference.md from the CRD schemas in crds/ (`make docs`); `--check` fails if it is stale.

Every field of both kinds, spec and status, with its type, default, constraints and the
description the schema carries (which the pydantic models in operator/tiergate_api provide),
plus the kind-level validation rules and printer columns. The schema is the contract the API
server enforces, so the reference is generated from it rather than written by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CRDS = ROOT / "crds"
OUTPUT = ROOT / "docs" / "api-reference.md"

INTRO = """\
# API reference

<!-- Generated from crds/ by `make docs` (scripts/generate_api_docs.py); do not edit by hand. -->

TierGate's API is two namespaced kinds in the group `tiergate.io`, version `v1alpha1`, both in the
category `tiergate` (`kubectl get tiergate`). This page lists every field the API server accepts
and reports, generated from the CustomResourceDefinitions in `crds/` (themselves generated from
the pydantic models in `operator/tiergate_api`). For what the fields do at request time, see
[routing.md](routing.md); for status conditions and their reasons, see [operations.md](operations.md).

Conventions: integers with units in their names (`timeoutSeconds`), money as decimal strings in
USD, enum values in CamelCase, `status.conditions` a list keyed by `type` with a summary `Ready`.
"""


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = node.get("type", "")
    if kind == "array":
        items = node.get("items") or {}
        return f"[]{_type(items)}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type(node['additionalProperties'])}"
    if kind == "object" and node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties"):
        return "object (free-form)"
    return kind or "any"


def _constraints(node: dict[str, Any], required: bool) -> list[str]:
    found = []
    if required:
        found.append("required")
    if "enum" in node:
        found.append("one of " + ", ".join(f"`{value}`" for value in node["enum"]))
    for key, label in (("minimum", "min"), ("maximum", "max"), ("minLength", "min length"),
                       ("maxLength", "max length"), ("minItems", "min items"), ("maxItems", "max items"),
                       ("minProperties", "min entries"), ("maxProperties", "max entries")):
        if key in node:
            found.append(f"{label} {node[key]}")
    if "pattern" in node:
        found.append(f"pattern `{node['pattern']}`")
    if "format" in node:
        found.append(f"format {node['format']}")
    if node.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(node.get("x-kubernetes-list-map-keys") or [])
        found.append(f"list keyed by {keys}")
    elif node.get("x-kubernetes-list-type") == "set":
        found.append("no duplicates")
    items = node.get("items") or {}
    if isinstance(items, dict) and "enum" in items:
        found.append("items one of " + ", ".join(f"`{value}`" for value in items["enum"]))
    for rule in node.get("x-kubernetes-validations") or []:
        found.append(f"rule: {rule.get('message') or rule['rule']} (`{rule['rule']}`)")
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default'])}`"


def _rows(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str, str]]:
    """(path, type, default, constraints, description) of every field under `node`, depth first."""
    required = set(node.get("required") or [])
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        yield (child_path, _type(child), _default(child), "; ".join(_constraints(child, name in required)),
               child.get("description", ""))
        yield from _children(child, child_path)


def _children(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str, str]]:
    if node.get("properties"):
        yield from _rows(node, path)
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties"):
        yield from _rows(items, f"{path}[]")
    values = node.get("additionalProperties")
    if isinstance(values, dict) and values.get("properties"):
        yield from _rows(values, f"{path}{{}}")


def _table(node: dict[str, Any], root: str) -> list[str]:
    lines = ["| Field | Type | Default | Constraints | Description |", "|---|---|---|---|---|"]
    for path, kind, default, constraints, description in _rows(node, root):
        lines.append(f"| `{path}` | {_cell(kind)} | {_cell(default)} | {_cell(constraints)} | {_cell(description)} |")
    return lines


def render_kind(crd: dict[str, Any]) -> list[str]:
    spec = crd["spec"]
    names = spec["names"]
    version = spec["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    properties = schema["properties"]
    columns = version.get("additionalPrinterColumns", [])
    lines = [
        f"## {names['kind']}",
        "",
        _cell(schema.get("description", "")),
        "",
        f"- API version: `{spec['group']}/{version['name']}`, scope {spec['scope']}",
        f"- Resource: `{names['plural']}` (short names: {', '.join(f'`{n}`' for n in names.get('shortNames', []))})",
        "- Subresources: " + (", ".join(f"`{s}`" for s in version.get("subresources") or {}) or "none"),
        "- Printer columns (`kubectl get`): "
        + ", ".join(f"{column['name']} (`{column['jsonPath']}`)" for column in columns),
        "",
    ]
    for part in ("spec", "status"):
        node = properties.get(part)
        if node is None:
            continue
        lines += [f"### {names['kind']} `{part}`", "", _cell(node.get("description", "")), ""]
        rules = _constraints(node, part in (schema.get("required") or []))
        if rules:
            lines += ["Rules on the whole `" + part + "`: " + _cell("; ".join(rules)) + ".", ""]
        lines += _table(node, part)
        lines.append("")
    return lines


def render() -> str:
    crds = [yaml.safe_load(path.read_text()) for path in sorted(CRDS.glob("*.yaml"))]
    crds.sort(key=lambda crd: crd["spec"]["names"]["kind"])
    lines = [INTRO, "Kinds: " + ", ".join(f"[{c['spec']['names']['kind']}](#{c['spec']['names']['kind'].lower()})"
                                         for c in crds) + ".", ""]
    for crd in crds:
        lines += render_kind(crd)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/api-reference.md is current")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("docs/api-reference.md is stale, run `make docs`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
