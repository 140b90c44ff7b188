"""The stream tap: chunks pass through, usage is read, the usage event we asked for is hidden."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tiergate_gateway.streamtap import StreamTap


def _event(payload: dict) -> bytes:  # type: ignore[type-arg]
    return b"data: " + orjson.dumps(payload) + b"\n\n"


CONTENT = [_event({"choices": [{"index": 0, "delta": {"content": w}}]}) for w in ("Hel", "lo")]
USAGE = _event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}})
DONE = b"data: [DONE]\n\n"
STREAM = b"".join([*CONTENT, USAGE, DONE])


def _relay(tap: StreamTap, chunks: list[bytes]) -> bytes:
    out = b"".join(tap.feed(c) for c in chunks)
    return out + tap.flush()


def test_usage_is_read_and_hidden_when_the_client_did_not_ask() -> None:
    tap = StreamTap(strip_usage=True)
    out = _relay(tap, [*CONTENT, USAGE, DONE])
    assert tap.usage == (7, 2) and tap.done
    assert out == b"".join([*CONTENT, DONE])


def test_usage_is_kept_when_the_client_asked() -> None:
    tap = StreamTap(strip_usage=False)
    assert _relay(tap, [STREAM]) == STREAM and tap.usage == (7, 2)


def test_missing_done_is_noticed() -> None:
    tap = StreamTap(strip_usage=True)
    _relay(tap, CONTENT)
    assert not tap.done


@given(st.lists(st.integers(1, len(STREAM) - 1), unique=True, max_size=12))
def test_any_chunking_gives_the_same_output(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    tap = StreamTap(strip_usage=True)
    assert _relay(tap, chunks) == b"".join([*CONTENT, DONE])
    assert tap.usage == (7, 2) and tap.done


NULL_USAGE_CONTENT = [
    _event({"id": "c1", "choices": [{"index": 0, "delta": {"content": w}}], "usage": None}) for w in ("Hel", "lo")
]


def test_null_usage_the_gateway_caused_is_removed_from_every_chunk() -> None:
    """With include_usage on, servers put `"usage": null` in every chunk; a client that did not ask sees none."""
    tap = StreamTap(strip_usage=True)
    out = _relay(tap, [*NULL_USAGE_CONTENT, USAGE, DONE])
    assert b"usage" not in out and tap.usage == (7, 2)
    events = [orjson.loads(e[len(b"data: ") :]) for e in out.split(b"\n\n") if e and e != b"data: [DONE]"]
    assert [e["choices"][0]["delta"]["content"] for e in events] == ["Hel", "lo"]


def test_null_usage_is_removed_in_any_position_and_spacing() -> None:
    tap = StreamTap(strip_usage=True)
    chunks = [
        b'data: {"usage": null, "id": "a", "choices": []}\n\n',
        b'data: {"id": "a", "usage" : null , "choices": []}\n\n',
        b'data: {"id": "a", "choices": [], "usage":null}\n\n',
    ]
    out = _relay(tap, chunks)
    assert b"usage" not in out
    assert all(isinstance(orjson.loads(e[len(b"data: ") :]), dict) for e in out.split(b"\n\n") if e)


def test_usage_text_inside_content_is_left_alone() -> None:
    chunk = _event({"choices": [{"index": 0, "delta": {"content": '"usage": null, is a phrase'}}]})
    tap = StreamTap(strip_usage=True)
    assert _relay(tap, [chunk]) == chunk


def test_null_usage_stays_when_the_client_asked() -> None:
    tap = StreamTap(strip_usage=False)
    assert _relay(tap, [*NULL_USAGE_CONTENT, USAGE, DONE]) == b"".join([*NULL_USAGE_CONTENT, USAGE, DONE])


def test_nonsense_usage_is_unknown_not_counted() -> None:
    negative = _event({"choices": [], "usage": {"prompt_tokens": -5, "completion_tokens": 2}})
    tap = StreamTap(strip_usage=True)
    out = _relay(tap, [*CONTENT, negative, DONE])
    assert tap.usage is None and tap.bad_usage and out == b"".join([*CONTENT, DONE])
