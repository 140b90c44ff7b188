"""JSON mode, structured outputs, and null fields, through the `openai` client and raw HTTP."""

from __future__ import annotations

import enum
import json
import time
from typing import TYPE_CHECKING, Any, Final

import httpx
import jsonschema
import openai
import pydantic
import pytest

from tiergate_sim._requests import plan_chat, plan_text
from tiergate_sim.knobs import SimConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import SimNames

    type ChatBody = Callable[..., dict[str, object]]

ASK: Final[list[Any]] = [{"role": "user", "content": "Give me an invoice."}]


class Currency(enum.StrEnum):
    EUR = "EUR"
    USD = "USD"


class Address(pydantic.BaseModel):
    street: str
    city: str
    postcode: str | None


class Line(pydantic.BaseModel):
    description: str
    quantity: int = pydantic.Field(ge=1)
    unit_price: float


class Invoice(pydantic.BaseModel):
    number: int
    currency: Currency
    billing: Address
    shipping: Address | None = None
    lines: list[Line]
    tags: list[str] = []
    paid: bool


def test_parse_fills_a_pydantic_model(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.parse(model=names.served, messages=ASK, response_format=Invoice)
    [choice] = answer.choices
    assert choice.finish_reason == "stop"
    invoice = choice.message.parsed
    assert isinstance(invoice, Invoice)
    assert invoice.currency is Currency.EUR
    assert invoice.lines and invoice.lines[0].quantity >= 1
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def test_stream_helper_parses_the_streamed_json(client: openai.OpenAI, names: SimNames) -> None:
    with client.chat.completions.stream(model=names.served, messages=ASK, response_format=Invoice) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 1  # the JSON text arrives in pieces
    assert isinstance(final.choices[0].message.parsed, Invoice)
    assert "".join(deltas) == final.choices[0].message.content


def test_json_object_mode_answers_a_json_object(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, response_format={"type": "json_object"})
    content = answer.choices[0].message.content
    assert content is not None and isinstance(json.loads(content), dict)
    stream = client.chat.completions.create(
        model=names.served, messages=ASK, response_format={"type": "json_object"}, stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == content


def test_json_schema_content_validates_and_counts_one_token_per_chunk(http: httpx.Client, chat_body: ChatBody) -> None:
    schema = {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"type": "string"}, "minItems": 3},
            "answer": {"anyOf": [{"type": "number", "minimum": 10}, {"type": "null"}]},
        },
        "required": ["steps", "answer"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "math", "schema": schema, "strict": True}}
    answer = http.post("/v1/chat/completions", json=chat_body(response_format=response_format)).json()
    content = answer["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema)
    streamed = http.post(
        "/v1/chat/completions",
        json=chat_body(response_format=response_format, stream=True, stream_options={"include_usage": True}),
    )
    chunks = [json.loads(event.removeprefix("data: ")) for event in streamed.text.split("\n\n")[:-2]]
    pieces = [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-2]]
    assert "".join(pieces) == content
    assert chunks[-1]["usage"]["completion_tokens"] == len(pieces) == answer["usage"]["completion_tokens"]


def test_max_tokens_cuts_json_and_parse_reports_it(client: openai.OpenAI, names: SimNames) -> None:
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(model=names.served, messages=ASK, response_format=Invoice, max_tokens=3)


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ("json", "response_format"),
        ({"type": "yaml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
    ],
)
def test_malformed_response_formats_get_400(
    http: httpx.Client, chat_body: ChatBody, response_format: object, param: str
) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(response_format=response_format))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_hostile_schema_is_answered_quickly(http: httpx.Client, chat_body: ChatBody) -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(400):  # orjson refuses bodies nested past 1024 levels
        schema = {"type": "array", "minItems": 1_000_000, "items": schema}
    response_format = {"type": "json_schema", "json_schema": {"name": "deep", "schema": schema}}
    started = time.perf_counter()
    response = http.post("/v1/chat/completions", json=chat_body(response_format=response_format))
    assert response.status_code == 200
    assert time.perf_counter() - started < 2.0
    assert len(response.content) < 1_000_000


# -- nulls -------------------------------------------------------------------------------

CHAT_NULLS: Final = dict.fromkeys(
    [
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
    ]
)
TEXT_NULLS: Final = dict.fromkeys(["logprobs", "stream", "stream_options", "max_tokens", "n", "echo"])


def test_null_fields_count_as_absent(http: httpx.Client, chat_body: ChatBody, names: SimNames) -> None:
    plain = http.post("/v1/chat/completions", json=chat_body()).json()
    nulls = http.post("/v1/chat/completions", json=chat_body(**CHAT_NULLS)).json()
    assert nulls["choices"] == plain["choices"]
    text_body = {"model": names.served, "prompt": "Once"}
    plain_text = http.post("/v1/completions", json=text_body).json()
    assert http.post("/v1/completions", json={**text_body, **TEXT_NULLS}).json()["choices"] == plain_text["choices"]


def test_the_sdk_sending_nulls_gets_a_plain_answer(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(
        model=names.served,
        messages=ASK,
        tools=None,  # type: ignore[arg-type]
        tool_choice=None,  # type: ignore[arg-type]
        response_format=None,  # type: ignore[arg-type]
        logprobs=None,
        top_logprobs=None,
        stream=None,  # type: ignore[arg-type]
        max_tokens=None,
    )
    [choice] = answer.choices
    assert (choice.finish_reason, choice.logprobs, choice.message.tool_calls) == ("stop", None, None)
    assert choice.message.content and choice.message.content.startswith("The quick answer")


def test_plain_and_null_requests_keep_the_fast_path(names: SimNames) -> None:
    config = SimConfig(model=names.model, served_model_names=(names.served,))
    messages = [{"role": "user", "content": "hi"}]
    assert plan_chat({"messages": messages}, config, config.knobs).shape is None
    assert plan_chat({"messages": messages, **CHAT_NULLS}, config, config.knobs).shape is None
    assert plan_chat({"messages": messages, "response_format": {"type": "text"}}, config, config.knobs).shape is None
    assert plan_text({"prompt": "x", **TEXT_NULLS}, config, config.knobs).shape is None
