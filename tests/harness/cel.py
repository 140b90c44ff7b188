"""`x-kubernetes-validations` CEL rules, evaluated with cel-python (`celpy`).

Each rule runs with `self` bound to the value at its schema node, converted
with the schema's types (a `number` field is a CEL double even when the JSON
holds `1`). Transition rules (those naming `oldSelf`) run only on updates
where the old value exists at the same place: through object properties, map
values and `x-kubernetes-list-type: map` items matched by their keys, as the
apiserver correlates them. `messageExpression` is honoured, then `message`,
then the apiserver's default `failed rule: <rule>`; `fieldPath` and `reason`
place and classify the error.

cel-python is not the Go implementation Kubernetes uses. Rules it cannot parse,
and rules calling functions or overloads it lacks, are skipped with a warning
(once per rule) instead of failing writes; a missing field (`no such key`)
fails the write, as on a real server. The Kubernetes string and list library
functions our CRDs are likely to use are added below.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes

from harness.errors import FieldError, invalid_value
from harness.schema import Schema, child_path

logger = logging.getLogger(__name__)

MISSING = object()
_USES_OLD_SELF = re.compile(r"\boldSelf\b")
_REASON_WORDS = {
    "FieldValueRequired": "Required value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueDuplicate": "Duplicate value",
}


def _k8s_functions() -> dict[str, Callable[..., Any]]:
    """A subset of the Kubernetes CEL libraries (strings, lists) that celpy lacks."""

    def is_sorted(items: celtypes.ListType) -> celtypes.BoolType:
        return celtypes.BoolType(list(items) == sorted(items))

    return {
        "lowerAscii": lambda s: celtypes.StringType(s.lower()),
        "upperAscii": lambda s: celtypes.StringType(s.upper()),
        "trim": lambda s: celtypes.StringType(s.strip()),
        "indexOf": lambda s, sub: celtypes.IntType(s.find(sub)),
        "lastIndexOf": lambda s, sub: celtypes.IntType(s.rfind(sub)),
        "replace": lambda s, old, new: celtypes.StringType(s.replace(old, new)),
        "split": lambda s, sep: celtypes.ListType([celtypes.StringType(p) for p in s.split(sep)]),
        "join": lambda items, sep="": celtypes.StringType(sep.join(items)),
        "isSorted": is_sorted,
        "sum": lambda items: sum(items[1:], items[0]) if items else celtypes.IntType(0),
        "min": lambda items: min(items),
        "max": lambda items: max(items),
    }


def to_cel(value: Any, schema: Schema | None) -> Any:
    """Convert decoded JSON to CEL values, using the schema's types where JSON is ambiguous."""
    schema = schema or {}
    match value:
        case None:
            return None
        case bool():
            return celtypes.BoolType(value)
        case int() if schema.get("type") == "number":
            return celtypes.DoubleType(value)
        case int():
            return celtypes.IntType(value)
        case float():
            return celtypes.DoubleType(value)
        case str():
            return celtypes.StringType(value)
        case list():
            items = schema.get("items")
            return celtypes.ListType([to_cel(item, items) for item in value])
        case dict():
            properties = schema.get("properties") or {}
            additional = schema.get("additionalProperties")
            return celtypes.MapType({
                celtypes.StringType(key): to_cel(
                    item, properties.get(key) or (additional if isinstance(additional, Mapping) else None))
                for key, item in value.items()
            })
    return value


@dataclass(frozen=True)
class _Program:
    source: str
    runner: celpy.Runner | None  # None: the rule does not parse, it is skipped


class CelValidator:
    """Evaluates every CEL rule of one schema over new (and old) objects.

    Programs are compiled on first use and kept for the validator's lifetime,
    one validator per served custom resource.
    """

    def __init__(self, schema: Schema, *, name: str) -> None:
        self._schema = schema
        self._name = name
        self._env = celpy.Environment()
        self._functions = _k8s_functions()
        self._programs: dict[str, _Program] = {}
        self._warned: set[str] = set()

    def validate(self, new: Any, old: Any = MISSING) -> list[FieldError]:
        """All failed rules for `new`; `old` is the stored object on updates."""
        errors: list[FieldError] = []
        self._walk(new, self._schema, "", old, errors)
        return errors

    # -- walking the schema and the object together -------------------------------------------

    def _walk(self, value: Any, schema: Schema, path: str, old: Any, errors: list[FieldError]) -> None:
        if value is None:
            return
        for rule in schema.get("x-kubernetes-validations", []):
            self._check(rule, value, schema, path, old, errors)

        if isinstance(value, dict):
            properties = schema.get("properties") or {}
            additional = schema.get("additionalProperties")
            for key, item in value.items():
                subschema = properties.get(key)
                item_path = child_path(path, key)
                if subschema is None and isinstance(additional, Mapping):
                    subschema, item_path = additional, f"{path}[{key}]"
                if subschema is not None:
                    old_item = old.get(key, MISSING) if isinstance(old, dict) else MISSING
                    self._walk(item, subschema, item_path, old_item, errors)
        elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            old_items = self._correlate(value, schema, old)
            for index, item in enumerate(value):
                self._walk(item, schema["items"], f"{path}[{index}]", old_items[index], errors)

    @staticmethod
    def _correlate(value: list[Any], schema: Schema, old: Any) -> list[Any]:
        """Pair list items with their old selves; only list-type=map items are correlatable."""
        keys = schema.get("x-kubernetes-list-map-keys") or []
        if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
            return [MISSING] * len(value)

        def identity(item: Any) -> tuple[Any, ...]:
            return tuple(item.get(k) for k in keys) if isinstance(item, dict) else ()

        by_key = {identity(item): item for item in old}
        return [by_key.get(identity(item), MISSING) for item in value]

    # -- one rule -------------------------------------------------------------------------------

    def _check(self, rule: Mapping[str, Any], value: Any, schema: Schema, path: str, old: Any,
               errors: list[FieldError]) -> None:
        source = rule.get("rule", "")
        if _USES_OLD_SELF.search(source) and old is MISSING:
            return  # a transition rule: only on updates where the old value exists
        program = self._compile(source)
        if program.runner is None:
            return

        shown_type = schema.get("type", "")  # the apiserver shows the rule's node type, not the value
        activation = {"self": to_cel(value, schema)}
        if old is not MISSING:
            activation["oldSelf"] = to_cel(old, schema)
        try:
            result = program.runner.evaluate(activation)
        except celpy.CELEvalError as e:
            result = e
        if isinstance(result, celpy.CELEvalError):
            if self._is_missing_key(result):
                errors.append(invalid_value(path, shown_type, f"{self._reason(result)} evaluating rule: {source}"))
            else:
                self._warn(source, f"cannot be evaluated by cel-python ({self._reason(result)})")
            return
        if result is True or (isinstance(result, celtypes.BoolType) and bool(result)):
            return

        message = self._message(rule, activation) or f"failed rule: {source}"
        field = path
        if field_path := rule.get("fieldPath"):
            field = (path + field_path) if field_path.startswith(("[", ".")) else child_path(path, field_path)
            field = field.lstrip(".")
        word = _REASON_WORDS.get(rule.get("reason", ""))
        if word is None:
            errors.append(invalid_value(field, shown_type, message))
        else:
            errors.append(FieldError(field, word, message))

    def _message(self, rule: Mapping[str, Any], activation: dict[str, Any]) -> str | None:
        if expression := rule.get("messageExpression"):
            program = self._compile(expression)
            if program.runner is not None:
                try:
                    result = program.runner.evaluate(activation)
                except celpy.CELEvalError as e:
                    result = e
                if isinstance(result, str) and result.strip():
                    return str(result)
                self._warn(expression, "messageExpression did not produce a message")
        return rule.get("message")

    def _compile(self, source: str) -> _Program:
        if source not in self._programs:
            try:
                runner = self._env.program(self._env.compile(source), functions=self._functions)
            except celpy.CELParseError as e:
                self._warn(source, f"does not parse in cel-python ({e})")
                runner = None
            self._programs[source] = _Program(source, runner)
        return self._programs[source]

    def _warn(self, source: str, why: str) -> None:
        if source not in self._warned:
            self._warned.add(source)
            logger.warning("Skipping the CEL rule %r of %s: %s", source, self._name, why)

    @staticmethod
    def _reason(error: celpy.CELEvalError) -> str:
        return str(error.args[0]) if error.args else str(error)

    @staticmethod
    def _is_missing_key(error: celpy.CELEvalError) -> bool:
        text = CelValidator._reason(error)
        return "no such member" in text or "no such key" in text
