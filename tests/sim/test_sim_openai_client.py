"""The official `openai` client talks to the simulator as it would to OpenAI or vLLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai
import pytest

if TYPE_CHECKING:
    from conftest import SimNames


def test_chat_completion_answers_in_openai_shape(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(
        model=names.served, messages=[{"role": "user", "content": "Say hello in a few words."}]
    )
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == names.served
    assert answer.created > 0
    [choice] = answer.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.completion_tokens == names.output_tokens
    assert answer.usage.prompt_tokens == 7  # 25 characters at ~4 per token, rounded up
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + names.output_tokens


def test_chat_accepts_the_model_id_as_well_as_the_served_name(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.model, messages=[{"role": "user", "content": "hi"}])
    assert answer.model == names.model


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_shortens_the_answer(client: openai.OpenAI, names: SimNames, field: str) -> None:
    answer = client.chat.completions.create(
        model=names.served, messages=[{"role": "user", "content": "hi"}], **{field: 3}
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == "The quick answer"


def test_max_tokens_above_the_answer_length_changes_nothing(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(
        model=names.served, messages=[{"role": "user", "content": "hi"}], max_tokens=1000
    )
    assert answer.usage is not None and answer.usage.completion_tokens == names.output_tokens
    assert answer.choices[0].finish_reason == "stop"


def test_n_gives_several_choices(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=[{"role": "user", "content": "hi"}], n=3)
    assert [choice.index for choice in answer.choices] == [0, 1, 2]
    assert answer.usage is not None and answer.usage.completion_tokens == 3 * names.output_tokens


def test_chat_stream_with_usage(client: openai.OpenAI, names: SimNames) -> None:
    stream = client.chat.completions.create(
        model=names.served,
        messages=[{"role": "user", "content": "Stream me something."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    first, *middle, finish, usage_chunk = chunks
    assert first.choices[0].delta.role == "assistant"
    assert len(middle) == names.output_tokens
    text = "".join(chunk.choices[0].delta.content or "" for chunk in middle)
    assert text.startswith("The quick answer")
    assert all(chunk.choices[0].finish_reason is None for chunk in [first, *middle])
    assert all(chunk.usage is None for chunk in [first, *middle, finish])
    assert finish.choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == names.output_tokens
    assert usage_chunk.usage.total_tokens == usage_chunk.usage.prompt_tokens + names.output_tokens


def test_streamed_text_matches_the_non_streamed_answer(client: openai.OpenAI, names: SimNames) -> None:
    messages = [{"role": "user", "content": "same"}]
    whole = client.chat.completions.create(model=names.served, messages=messages)
    stream = client.chat.completions.create(model=names.served, messages=messages, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == whole.choices[0].message.content


def test_text_completion(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.completions.create(model=names.served, prompt="Once upon a time", max_tokens=4)
    assert answer.object == "text_completion"
    assert answer.id.startswith("cmpl-")
    assert answer.choices[0].text == "The quick answer is"
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 4)


def test_text_completion_answers_each_prompt(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.completions.create(model=names.served, prompt=["one", "two"], max_tokens=2)
    assert [choice.index for choice in answer.choices] == [0, 1]
    assert answer.usage is not None and answer.usage.completion_tokens == 4


def test_text_completion_stream(client: openai.OpenAI, names: SimNames) -> None:
    stream = client.completions.create(
        model=names.served,
        prompt="Once upon a time",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"text_completion"}
    *tokens, finish, usage_chunk = chunks
    assert len(tokens) == names.output_tokens
    assert "".join(chunk.choices[0].text for chunk in tokens).startswith("The quick")
    assert finish.choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == names.output_tokens


def test_models_lists_the_served_name_with_the_model_as_root(client: openai.OpenAI, names: SimNames) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == [names.served]
    [model] = models.data
    assert model.object == "model"
    assert model.owned_by == "tiergate-sim"
    assert model.model_extra is not None and model.model_extra["root"] == names.model


def test_unknown_model_is_a_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
