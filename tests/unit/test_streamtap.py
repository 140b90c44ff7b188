"""The stream tap: chunks pass through, usage is read, the usage event we asked for is hidden."""

from __future__ import annotations

import itertools
import re

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tiergate_gateway.upstream.streamtap import MAX_EVENT_BYTES, EventTooLargeError, StreamTap


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


# -- framing: LF, CRLF and CR line endings; bounded reassembly

_PAYLOADS = [
    b'{"choices": [{"index": 0, "delta": {"content": "Hel"}}], "usage": null}',
    b'{"choices": [{"index": 0, "delta": {"content": "lo\\r\\n"}}]}',
    b'{"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}',
    b"[DONE]",
]
_USAGE_INDEX = 2


def _framed(endings: list[bytes]) -> list[bytes]:
    """The stream's events, event i's lines ended by endings[i] (a comment line first, as some servers send)."""
    return [b": tick" + end + b"data: " + payload + end + end for payload, end in zip(_PAYLOADS, endings, strict=True)]


_ENDING = st.sampled_from([b"\n", b"\r\n", b"\r"])
_ENDINGS = st.one_of(_ENDING.map(lambda end: [end] * len(_PAYLOADS)), st.lists(_ENDING, min_size=4, max_size=4))
"""One line ending for the whole stream, or a mixture, one per event."""


def _chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted({cut % len(stream) for cut in cuts if cut % len(stream)}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(points)]


def _dispatched(stream: bytes) -> list[bytes]:
    """The data of each event a WHATWG event-stream parser dispatches from `stream`."""
    events, data = [], []
    for line in re.split(rb"\r\n|\r|\n", stream)[:-1]:  # the last piece has no line ending yet
        if not line:
            if data:
                events.append(b"\n".join(data))
            data = []
        elif line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
    return events


@given(_ENDINGS, st.lists(st.integers(1, 10_000), max_size=20))
@example([b"\n", b"\r\n", b"\r\n", b"\n"], [269])  # the usage event cut between the CR and LF of its end
@example([b"\r"] * 4, [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233])
def test_any_chunking_of_any_framing_gives_the_same_events(endings: list[bytes], cuts: list[int]) -> None:
    events = _framed(endings)
    stream = b"".join(events)

    kept = StreamTap(strip_usage=False)
    assert _relay(kept, _chunked(stream, cuts)) == stream  # nothing to hide: byte for byte
    assert kept.usage == (7, 2) and kept.done

    stripped = StreamTap(strip_usage=True)
    out = _relay(stripped, _chunked(stream, cuts))
    assert stripped.usage == (7, 2) and stripped.done
    shown = [e.replace(b', "usage": null', b"") for i, e in enumerate(events) if i != _USAGE_INDEX]
    assert _dispatched(out) == [_PAYLOADS[0].replace(b', "usage": null', b""), _PAYLOADS[1], b"[DONE]"]
    # The hidden event, cut between the CR and LF that end it, may leave that LF: an empty line, no event.
    left_lf = b"\n" if endings[_USAGE_INDEX] == b"\r\n" else b""
    assert out in (b"".join(shown), shown[0] + shown[1] + left_lf + shown[2])


def test_crlf_framed_usage_is_read_and_hidden_and_done_is_seen() -> None:
    crlf = [c.replace(b"\n\n", b"\r\n\r\n") for c in (*CONTENT, USAGE, DONE)]
    tap = StreamTap(strip_usage=True)
    assert _relay(tap, crlf) == b"".join([crlf[0], crlf[1], crlf[3]])
    assert tap.usage == (7, 2) and tap.done


def test_a_chunk_of_whole_events_passes_as_the_same_object_in_either_framing() -> None:
    for chunk in (CONTENT[0], CONTENT[0].replace(b"\n\n", b"\r\n\r\n")):
        assert StreamTap(strip_usage=True).feed(chunk) is chunk


def test_an_event_without_end_breaks_the_stream_once_it_outgrows_the_bound() -> None:
    tap = StreamTap(strip_usage=True)
    assert tap.feed(CONTENT[0]) == CONTENT[0]
    piece = b"data: " + b"x" * 65_530
    fed = 0
    with pytest.raises(EventTooLargeError):
        while True:
            assert tap.feed(piece) == b""  # nothing of the unfinished event leaves
            fed += len(piece)
            assert fed <= MAX_EVENT_BYTES + len(piece)
    assert fed >= MAX_EVENT_BYTES - len(piece)
    assert not tap._pending  # what was held is let go


def test_an_event_without_end_trickled_in_small_pieces_is_cut_off_in_linear_time() -> None:
    tap = StreamTap(strip_usage=True)
    with pytest.raises(EventTooLargeError):
        for _ in range(MAX_EVENT_BYTES // 64 + 2):  # quadratic re-scanning would take minutes here
            tap.feed(b"y" * 64)


def test_a_large_event_under_the_bound_arrives_whole() -> None:
    big = b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": "z" * 900_000}}]}) + b"\r\n\r\n"
    tap = StreamTap(strip_usage=True)
    out = b"".join(tap.feed(big[i : i + 1000]) for i in range(0, len(big), 1000))
    assert out == big


def test_a_cr_framed_stream_ends_with_done() -> None:
    cr = [c.replace(b"\n", b"\r") for c in (*CONTENT, USAGE, DONE)]
    tap = StreamTap(strip_usage=True)
    assert _relay(tap, [b"".join(cr)]) == b"".join([cr[0], cr[1], cr[3]])
    assert tap.done and tap.usage == (7, 2)


def test_a_stream_cut_mid_event_is_flushed_as_a_whole_event() -> None:
    tap = StreamTap(strip_usage=True)
    assert tap.feed(b"data: [DONE]") == b""
    assert tap.flush() == b"data: [DONE]\n\n" and tap.done
