"""Tool calling against the simulator, as the `openai` client and a tool loop see it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import httpx
import jsonschema
import openai
import pydantic
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import SimNames

    type ChatBody = Callable[..., dict[str, object]]

WEATHER_PARAMETERS: Final = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "hourly": {"type": "boolean"},
    },
    "required": ["city", "days", "unit"],
    "additionalProperties": False,
}
TOOLS: Final[list[Any]] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMETERS}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
ASK: Final[list[Any]] = [{"role": "user", "content": "What is the weather in Paris?"}]


class GetWeather(pydantic.BaseModel):
    """Look up the weather."""

    city: str
    days: int = pydantic.Field(ge=1, le=7)
    unit: str


def sse_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON chunks of a complete SSE body, which must end with `[DONE]`."""
    *events, done = response.text.removesuffix("\n\n").split("\n\n")
    assert done == "data: [DONE]"
    return [json.loads(event.removeprefix("data: ")) for event in events]


def test_tool_call_has_arguments_matching_the_schema(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS)
    [choice] = answer.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER_PARAMETERS)
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def test_streamed_tool_call_comes_in_openai_chunks(client: openai.OpenAI, names: SimNames) -> None:
    whole = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS)
    stream = client.chat.completions.create(
        model=names.served, messages=ASK, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    first, *pieces, finish, usage_chunk = list(stream)
    [opening] = first.choices[0].delta.tool_calls or []
    assert first.choices[0].delta.role == "assistant"
    assert (opening.index, opening.type, opening.function and opening.function.name) == (0, "function", "get_weather")
    assert opening.id and opening.id.startswith("call_")
    assert opening.function.arguments == ""
    arguments = ""
    for chunk in pieces:
        [delta] = chunk.choices[0].delta.tool_calls or []
        assert delta.index == 0 and delta.id is None
        arguments += delta.function.arguments if delta.function and delta.function.arguments else ""
    [whole_call] = whole.choices[0].message.tool_calls or []
    assert arguments == whole_call.function.arguments
    jsonschema.validate(json.loads(arguments), WEATHER_PARAMETERS)
    assert finish.choices[0].finish_reason == "tool_calls"
    assert usage_chunk.usage is not None and usage_chunk.usage.completion_tokens == len(pieces)


def test_stream_helper_reassembles_and_parses_a_strict_tool(client: openai.OpenAI, names: SimNames) -> None:
    tool = openai.pydantic_function_tool(GetWeather)
    with client.chat.completions.stream(model=names.served, messages=ASK, tools=[tool]) as stream:
        done = [event for event in stream if event.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    [event] = done
    assert event.name == "GetWeather"
    assert isinstance(event.parsed_arguments, GetWeather)
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == event.parsed_arguments


def test_parse_gives_the_tool_arguments_as_a_model(client: openai.OpenAI, names: SimNames) -> None:
    tool = openai.pydantic_function_tool(GetWeather)
    answer = client.chat.completions.parse(model=names.served, messages=ASK, tools=[tool])
    [call] = answer.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert 1 <= call.function.parsed_arguments.days <= 7


def test_tool_choice_none_answers_with_text(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS, tool_choice="none")
    [choice] = answer.choices
    assert (choice.finish_reason, choice.message.tool_calls) == ("stop", None)
    assert choice.message.content and choice.message.content.startswith("The quick answer")


def test_tool_choice_names_the_function_to_call(client: openai.OpenAI, names: SimNames) -> None:
    choice: Any = {"type": "function", "function": {"name": "get_time"}}
    answer = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS, tool_choice=choice)
    [call] = answer.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("get_time", "{}")


def test_tool_choice_naming_an_unknown_function_is_a_bad_request(client: openai.OpenAI, names: SimNames) -> None:
    choice: Any = {"type": "function", "function": {"name": "launch_rocket"}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS, tool_choice=choice)
    assert caught.value.param == "tool_choice"


def test_tool_choice_required_without_tools_is_a_bad_request(client: openai.OpenAI, names: SimNames) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=names.served, messages=ASK, tool_choice="required")
    assert caught.value.param == "tool_choice"


def tool_round(client: openai.OpenAI, model: str, **extra: Any) -> list[Any]:
    """The messages after one call and its result, as a client's tool loop builds them."""
    answer = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, **extra)
    [call] = answer.choices[0].message.tool_calls or []
    assistant = answer.choices[0].message.model_dump(exclude_none=True)
    return [*ASK, assistant, {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'}]


def test_a_tool_loop_ends_after_the_tool_result(client: openai.OpenAI, names: SimNames) -> None:
    messages = list(ASK)
    for _round in range(3):
        answer = client.chat.completions.create(model=names.served, messages=messages, tools=TOOLS)
        message = answer.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        messages += [{"role": "tool", "tool_call_id": call.id, "content": "21 C"} for call in message.tool_calls]
    assert answer.choices[0].finish_reason == "stop"
    assert message.content and len(messages) == 3


def test_required_calls_again_even_after_a_tool_result(client: openai.OpenAI, names: SimNames) -> None:
    messages = tool_round(client, names.served)
    answer = client.chat.completions.create(model=names.served, messages=messages, tools=TOOLS, tool_choice="required")
    assert answer.choices[0].finish_reason == "tool_calls"


def test_every_choice_calls_with_its_own_id(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS, n=2)
    ids = [call.id for choice in answer.choices for call in choice.message.tool_calls or []]
    assert len(ids) == len(set(ids)) == 2


def test_max_tokens_cuts_the_arguments(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, tools=TOOLS, max_tokens=2)
    [call] = answer.choices[0].message.tool_calls or []
    assert answer.choices[0].finish_reason == "length"
    assert call.function.arguments == '{"city":'  # two tokens of four characters


def test_legacy_functions_answer_with_function_call(http: httpx.Client, chat_body: ChatBody) -> None:
    functions = [tool["function"] for tool in TOOLS]
    message = http.post("/v1/chat/completions", json=chat_body(functions=functions)).json()["choices"][0]
    assert message["finish_reason"] == "function_call"
    assert message["message"]["function_call"]["name"] == "get_weather"
    jsonschema.validate(json.loads(message["message"]["function_call"]["arguments"]), WEATHER_PARAMETERS)
    named = chat_body(functions=functions, function_call={"name": "get_time"}, stream=True)
    first, *pieces, finish = sse_chunks(http.post("/v1/chat/completions", json=named))
    assert first["choices"][0]["delta"] == {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "get_time", "arguments": ""},
    }
    assert [chunk["choices"][0]["delta"] for chunk in pieces] == [{"function_call": {"arguments": "{}"}}]
    assert finish["choices"][0]["finish_reason"] == "function_call"


def test_first_stream_chunk_names_the_call_with_empty_arguments(http: httpx.Client, chat_body: ChatBody) -> None:
    first, *_ = sse_chunks(http.post("/v1/chat/completions", json=chat_body(tools=TOOLS, stream=True)))
    delta = first["choices"][0]["delta"]
    call_id = delta["tool_calls"][0]["id"]
    assert delta == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"index": 0, "id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        ],
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "tools[0].function.name"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        ({"functions": [{"name": "f"}], "function_call": {"name": "g"}}, "function_call"),
    ],
)
def test_malformed_tools_get_400(http: httpx.Client, chat_body: ChatBody, extra: dict[str, Any], param: str) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(**extra))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_tools_of_other_kinds_are_never_called(http: httpx.Client, chat_body: ChatBody) -> None:
    custom = [{"type": "custom", "custom": {"name": "grammar"}}]
    answer = http.post("/v1/chat/completions", json=chat_body(tools=custom)).json()
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_paced_stream_sends_the_same_tool_call(http: httpx.Client, chat_body: ChatBody) -> None:
    whole = http.post("/v1/chat/completions", json=chat_body(tools=TOOLS)).json()
    http.put("/sim/config", json={"tokens_per_second": 2000}).raise_for_status()
    chunks = sse_chunks(http.post("/v1/chat/completions", json=chat_body(tools=TOOLS, stream=True)))
    pieces = [chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for chunk in chunks[:-1]]
    assert "".join(pieces) == whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
