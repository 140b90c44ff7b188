"""The schema sampler alone: its instances validate, and hostile schemas stay bounded."""

from __future__ import annotations

import datetime
import enum
import time
from typing import Any, Literal

import hypothesis.strategies as st
import jsonschema
import orjson
import pydantic
import pytest
from hypothesis import given, settings
from openai.lib._pydantic import to_strict_json_schema

from tiergate_sim._schema import MAX_DEPTH, MAX_ITEMS, MAX_NODES, MAX_PROPERTIES, MAX_STRING, sample

type Schema = dict[str, Any]

_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10)


def check(instance: object, schema: Schema) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


@st.composite
def integer_schemas(draw: st.DrawFn) -> Schema:
    low = draw(st.integers(-(10**6), 10**6))
    width = draw(st.integers(2, 10**6))
    schema: Schema = {"type": "integer"}
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + width
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> Schema:
    low = draw(st.floats(-1e9, 1e9))
    width = draw(st.floats(1e-3, 1e9))
    schema: Schema = {"type": "number"}
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + width
    return schema


@st.composite
def string_schemas(draw: st.DrawFn) -> Schema:
    schema: Schema = {"type": "string"}
    shortest = draw(st.integers(0, 40))
    if draw(st.booleans()):
        schema["minLength"] = shortest
    if draw(st.booleans()):
        schema["maxLength"] = shortest + draw(st.integers(0, 40))
    return schema


_LEAVES = st.one_of(
    integer_schemas(),
    number_schemas(),
    string_schemas(),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": "string", "format": "date-time"}]),
    st.lists(_SCALARS, min_size=1, max_size=5).map(lambda values: {"enum": values}),
    _SCALARS.map(lambda value: {"const": value}),
    st.just({"$ref": "#/$defs/Shared"}),
)


@st.composite
def object_schemas(draw: st.DrawFn, children: st.SearchStrategy[Schema]) -> Schema:
    properties = draw(st.dictionaries(_NAMES, children, max_size=5))
    required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return schema


@st.composite
def array_schemas(draw: st.DrawFn, children: st.SearchStrategy[Schema]) -> Schema:
    schema: Schema = {"type": "array", "items": draw(children)}
    fewest = draw(st.integers(0, 4))
    if draw(st.booleans()):
        schema["minItems"] = fewest
    if draw(st.booleans()):
        schema["maxItems"] = fewest + draw(st.integers(0, 3))
    return schema


def _nested(children: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    return st.one_of(
        object_schemas(children),
        array_schemas(children),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"oneOf": branches[:1]}),
        children.map(lambda inner: {"anyOf": [inner, {"type": "null"}]}),
    )


_SCHEMAS = st.recursive(_LEAVES, _nested, max_leaves=25)


@given(schema=_SCHEMAS, shared=st.recursive(_LEAVES.filter(lambda leaf: "$ref" not in leaf), _nested, max_leaves=8))
@settings(max_examples=300, deadline=None)
def test_samples_validate_against_generated_schemas(schema: Schema, shared: Schema) -> None:
    document = {**schema, "$defs": {"Shared": shared}}
    check(sample(document), document)


@given(schema=object_schemas(_SCHEMAS))
@settings(max_examples=50, deadline=None)
def test_additional_properties_false_gets_only_declared_properties(schema: Schema) -> None:
    document = {**schema, "additionalProperties": False, "$defs": {"Shared": {"type": "null"}}}
    instance = sample(document)
    assert set(instance) <= set(schema["properties"])


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Line(pydantic.BaseModel):
    sku: str
    quantity: int = pydantic.Field(ge=1, le=99)
    price: float = pydantic.Field(gt=0)


class Tree(pydantic.BaseModel):
    label: str
    children: list[Tree] = []
    parent: Tree | None = None


class Order(pydantic.BaseModel):
    number: int
    colour: Colour
    kind: Literal["retail", "wholesale"]
    note: str | None = None
    placed: datetime.datetime
    lines: list[Line] = pydantic.Field(min_length=2)
    pair: tuple[int, str]
    tree: Tree


@pytest.mark.parametrize("strict", [True, False], ids=["openai-strict", "pydantic"])
def test_pydantic_schemas_give_valid_models(strict: bool) -> None:
    schema = to_strict_json_schema(Order) if strict else Order.model_json_schema()
    instance = sample(schema)
    check(instance, schema)
    order = Order.model_validate(instance)
    assert len(order.lines) == 2
    assert order.colour is Colour.RED


def test_draft_4_definitions_and_exclusive_booleans() -> None:
    schema = {
        "definitions": {"Small": {"type": "integer", "minimum": 3, "exclusiveMinimum": True}},
        "type": "object",
        "properties": {"size": {"$ref": "#/definitions/Small"}},
        "required": ["size"],
    }
    assert sample(schema) == {"size": 4}


def test_all_of_merges_properties_and_required_names() -> None:
    schema = {
        "$defs": {"Named": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        "allOf": [{"$ref": "#/$defs/Named"}, {"properties": {"age": {"type": "integer", "minimum": 18}}}],
    }
    assert sample(schema) == {"name": "text", "age": 18}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": 5, "multipleOf": 3}, 6),
        ({"type": "integer", "maximum": -4}, -4),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5),
        ({"type": ["string", "null"]}, "text"),
        ({"type": "string", "maxLength": 2}, "te"),
        ({"type": "string", "format": "uuid"}, "00000000-0000-4000-8000-000000000000"),
        ({"type": "array", "maxItems": 0}, []),
        ({"prefixItems": [{"type": "integer"}, {"type": "boolean"}], "items": False, "minItems": 2}, [0, True]),
        ({"required": ["x"]}, {"x": None}),
        ({}, None),
    ],
)
def test_small_schemas(schema: Schema, expected: object) -> None:
    assert sample(schema) == expected


# -- hostile schemas ---------------------------------------------------------------------


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


def count_values(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(map(count_values, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(count_values, value))
    return 1


def timed_sample(schema: object) -> Any:
    started = time.perf_counter()
    instance = sample(schema)
    assert time.perf_counter() - started < 1.0
    orjson.dumps(instance)  # always writable
    return instance


def test_a_schema_nested_thousands_deep_is_cut_at_max_depth() -> None:
    schema: Schema = {"type": "string"}
    for _ in range(5000):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    assert depth_of(timed_sample(schema)) <= MAX_DEPTH + 1


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"},
        {"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]},
        {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
    ],
    ids=["self", "mutual", "object", "array"],
)
def test_recursion_without_an_exit_ends(schema: Schema) -> None:
    assert depth_of(timed_sample(schema)) <= MAX_DEPTH + 1


def test_recursion_with_a_null_exit_ends_in_a_valid_instance() -> None:
    schema = {
        "type": "object",
        "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["next"],
    }
    check(timed_sample(schema), schema)


def test_sizes_asked_for_are_capped() -> None:
    schema = {"type": "array", "minItems": 10**12, "items": {"type": "string", "minLength": 10**12}}
    instance = timed_sample(schema)
    assert len(instance) == MAX_ITEMS
    assert {len(text) for text in instance} == {MAX_STRING}


def test_wide_and_repeated_schemas_stay_under_the_value_budget() -> None:
    wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(100_000)}}
    assert len(timed_sample(wide)) <= MAX_PROPERTIES
    fan_out: Schema = {"type": "integer"}
    for _ in range(10):
        fan_out = {"type": "array", "minItems": 16, "items": fan_out}
    assert count_values(timed_sample(fan_out)) <= MAX_NODES + MAX_DEPTH


@pytest.mark.parametrize(
    "schema",
    [
        {"enum": list(range(1_000_000))},
        {"type": "array", "minItems": 16, "items": {"const": "x" * 1_000_000}},
        {"type": "integer", "minimum": 1e300},
        {"type": "object", "required": [f"r{i}" for i in range(100_000)]},
        {"allOf": [{"properties": {"a": {"type": "string"}}}] * 100_000},
        {"$ref": "#/" + "/".join(["a"] * 100_000)},
        {"$ref": "https://example.com/schema.json"},
        {"anyOf": []},
        {"type": []},
    ],
    ids=["enum", "const", "huge-int", "required", "all-of", "pointer", "remote-ref", "empty-any", "no-type"],
)
def test_hostile_schemas_are_bounded(schema: Schema) -> None:
    instance = timed_sample(schema)
    assert len(orjson.dumps(instance)) <= MAX_NODES * (MAX_STRING + 16)
