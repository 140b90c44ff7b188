"""The bounded YAML loader: hostile shapes are refused while composing, ordinary YAML reads as before."""

from __future__ import annotations

import time

import pytest
import yaml

from hostile_yaml import alias_bomb
from tiergate_api.yamlio import (
    MAX_ALIAS_NODES,
    MAX_CHARACTERS,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_NODES,
    YamlLimitError,
    describe_yaml_error,
    load_documents,
)

SECRET = "sk-live-0123456789abcdefSECRET"


def _refusal(text: str) -> str:
    with pytest.raises(YamlLimitError) as caught:
        list(load_documents(text))
    return describe_yaml_error(caught.value)


def test_small_anchors_aliases_and_merge_keys_still_work() -> None:
    text = """
caps: &caps {tasks: [Chat, Summarization], maxContextTokens: 4096}
endpoint: &endpoint {url: "http://127.0.0.1:1/v1", locality: Local}
a: {capabilities: *caps, endpoint: *endpoint}
b: {capabilities: *caps, endpoint: {<<: *endpoint, locality: Remote}}
"""
    (document,) = load_documents(text)
    assert document["a"]["capabilities"] == {"tasks": ["Chat", "Summarization"], "maxContextTokens": 4096}
    assert document["b"]["endpoint"] == {"url": "http://127.0.0.1:1/v1", "locality": "Remote"}


def test_sharing_a_block_among_a_hundred_tiers_fits_the_alias_bound() -> None:
    shared = "caps: &caps {tasks: [Chat, Summarization, Extraction], features: [Streaming], maxContextTokens: 8192}\n"
    text = shared + "".join(f"t{n}: {{capabilities: *caps}}\n" for n in range(100))
    (document,) = load_documents(text)
    assert document["t99"]["capabilities"]["features"] == ["Streaming"]


def test_billion_laughs_is_refused_at_once_without_expanding() -> None:
    text = alias_bomb(levels=9)  # 9**10 tasks if expanded
    started = time.perf_counter()
    message = _refusal(text)
    assert time.perf_counter() - started < 0.5
    assert f"aliases expand to more than {MAX_ALIAS_NODES} nodes" in message and "line " in message


def test_merge_key_bomb_is_refused() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    lines += [f"m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 8)}]}}" for n in range(1, 8)]
    assert "aliases expand" in _refusal("\n".join(lines) + "\n")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert "refers to a node that contains it" in _refusal("a: &a [1, *a]\n")


def test_deep_nesting_is_refused_directly_and_through_aliases() -> None:
    assert f"deeper than {MAX_DEPTH}" in _refusal("x: " + "[" * 80 + "]" * 80 + "\n")
    half = "[" * 40 + "]" * 40
    assert f"deeper than {MAX_DEPTH}" in _refusal(f"a: &a {half}\nb: {'[' * 40}*a{']' * 40}\n")


def test_too_many_nodes_documents_or_characters_are_refused() -> None:
    assert f"more than {MAX_NODES} nodes" in _refusal("x: [" + ",".join(["1"] * (MAX_NODES + 1)) + "]\n")
    assert f"more than {MAX_DOCUMENTS} documents" in _refusal("a: 1\n---\n" * (MAX_DOCUMENTS + 1))
    assert "longer than" in _refusal("#" * (MAX_CHARACTERS + 1))


def test_a_value_python_cannot_build_is_a_yaml_error() -> None:
    for text in ("x: " + "9" * 5000 + "\n", "x: 2020-02-30\n"):
        with pytest.raises(yaml.YAMLError) as caught:
            list(load_documents(text))
        assert describe_yaml_error(caught.value).startswith("line 1, column 4: cannot read this value")


@pytest.mark.parametrize(
    "text",
    [
        f'apiKey: "{SECRET}\n',  # unclosed quote
        f"token: {SECRET}: x\n",  # mapping values are not allowed here
        f"a: 1\n  token: {SECRET}\n b: 2\n",  # bad indentation
        f"token: *{SECRET}\n",  # undefined alias
        f"token: !{SECRET} x\n",  # unknown tag
        f"token: [{SECRET}\n",  # unclosed flow sequence
    ],
)
def test_errors_say_line_and_column_never_the_text(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        list(load_documents(text))
    message = describe_yaml_error(caught.value)
    assert "line " in message and "column " in message
    assert "SECRET" not in message and "sk-live" not in message
