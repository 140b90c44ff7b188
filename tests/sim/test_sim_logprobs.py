"""Placeholder log probabilities on chat and completions, whole and streamed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from tiergate_sim._logprobs import MAX_TOP_LOGPROBS, chat_logprobs, text_logprobs
from tiergate_sim._textgen import text_piece

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import SimNames

    type ChatBody = Callable[..., dict[str, object]]

ASK: Any = [{"role": "user", "content": "hi"}]


def test_chat_logprobs_cover_every_token(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, logprobs=True, top_logprobs=3)
    [choice] = answer.choices
    assert choice.logprobs is not None and choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert len(entries) == names.output_tokens
    assert "".join(entry.token for entry in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0
        assert entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        assert [top.logprob for top in entry.top_logprobs] == sorted(
            (top.logprob for top in entry.top_logprobs), reverse=True
        )
    assert choice.logprobs.refusal is None


def test_chat_logprobs_without_top_logprobs_list_no_alternatives(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(model=names.served, messages=ASK, logprobs=True, max_tokens=2)
    content = answer.choices[0].logprobs and answer.choices[0].logprobs.content
    assert [(entry.token, entry.top_logprobs) for entry in content or []] == [("The", []), (" quick", [])]


def test_chat_logprobs_stream_one_entry_per_chunk(client: openai.OpenAI, names: SimNames) -> None:
    whole = client.chat.completions.create(model=names.served, messages=ASK, logprobs=True, top_logprobs=2)
    stream = client.chat.completions.create(
        model=names.served, messages=ASK, logprobs=True, top_logprobs=2, stream=True
    )
    first, *tokens, _finish = list(stream)
    assert first.choices[0].logprobs is None
    entries = []
    for chunk in tokens:
        assert chunk.choices[0].logprobs is not None
        [entry] = chunk.choices[0].logprobs.content or []
        assert entry.token == chunk.choices[0].delta.content
        entries.append(entry)
    assert whole.choices[0].logprobs is not None
    assert entries == whole.choices[0].logprobs.content


def test_stream_helper_gathers_the_logprobs(client: openai.OpenAI, names: SimNames) -> None:
    with client.chat.completions.stream(model=names.served, messages=ASK, logprobs=True) as stream:
        final = stream.get_final_completion()
    logprobs = final.choices[0].logprobs
    assert logprobs is not None and len(logprobs.content or []) == names.output_tokens


def test_json_content_logprobs_follow_its_tokens(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.chat.completions.create(
        model=names.served, messages=ASK, logprobs=True, response_format={"type": "json_object"}
    )
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert "".join(entry.token for entry in logprobs.content) == answer.choices[0].message.content


def test_completions_logprobs(client: openai.OpenAI, names: SimNames) -> None:
    answer = client.completions.create(model=names.served, prompt="Once upon a time", logprobs=2, max_tokens=4)
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None
    assert "".join(logprobs.tokens) == answer.choices[0].text == "The quick answer is"
    assert logprobs.text_offset == [0, 3, 9, 16]
    assert all(value <= 0 for value in logprobs.token_logprobs or [])
    for token, top in zip(logprobs.tokens, logprobs.top_logprobs or [], strict=True):
        assert len(top) == 2 and token in top


def test_completions_logprobs_stream(client: openai.OpenAI, names: SimNames) -> None:
    whole = client.completions.create(model=names.served, prompt="Once", logprobs=0, max_tokens=3)
    stream = client.completions.create(model=names.served, prompt="Once", logprobs=0, max_tokens=3, stream=True)
    *tokens, _finish = list(stream)
    streamed = [chunk.choices[0].logprobs for chunk in tokens]
    assert whole.choices[0].logprobs is not None
    assert [offset for part in streamed if part for offset in part.text_offset or []] == whole.choices[
        0
    ].logprobs.text_offset
    assert [top for part in streamed if part for top in part.top_logprobs or []] == whole.choices[
        0
    ].logprobs.top_logprobs


@pytest.mark.parametrize(
    ("path", "extra", "param"),
    [
        ("/v1/chat/completions", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ("/v1/chat/completions", {"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
        ("/v1/chat/completions", {"top_logprobs": 2}, "top_logprobs"),
        ("/v1/chat/completions", {"logprobs": False, "top_logprobs": 2}, "top_logprobs"),
        ("/v1/chat/completions", {"logprobs": "yes"}, "logprobs"),
        ("/v1/completions", {"logprobs": 21}, "logprobs"),
        ("/v1/completions", {"logprobs": True}, "logprobs"),
    ],
)
def test_logprobs_out_of_range_get_400(
    http: httpx.Client, chat_body: ChatBody, path: str, extra: dict[str, object], param: str
) -> None:
    body = chat_body(**extra) if "chat" in path else {"prompt": "x", **extra}
    response = http.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_alternatives_never_collide_with_answer_tokens() -> None:
    tokens = [text_piece(index) for index in range(200)]
    assert all(len(top) == MAX_TOP_LOGPROBS for top in text_logprobs(tokens, 0, 0, MAX_TOP_LOGPROBS)["top_logprobs"])
    for entry in chat_logprobs(tokens, 0, MAX_TOP_LOGPROBS)["content"]:
        listed = [top["token"] for top in entry["top_logprobs"]]
        assert len(set(listed)) == MAX_TOP_LOGPROBS and listed[0] == entry["token"]
