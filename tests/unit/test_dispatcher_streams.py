"""Streams through the dispatcher: a failure before the first byte falls back; after it, the
stream ends with an error event in OpenAI's format and the tier is charged with the failure."""

from __future__ import annotations

import orjson

from fake_upstream import Ending, InProcessGateway, Step, error, event_stream
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.runtime.limits import Limits

REMOTE = "default/remote"


def gateway(remote_timeout: int | None = None) -> InProcessGateway:
    """A remote tier (the primary for Reasoning) and a Local one."""
    remote = tier("remote", "32B", local=False)
    if remote_timeout is not None:
        remote["spec"]["endpoint"]["timeoutSeconds"] = remote_timeout
    return InProcessGateway(snapshot([remote, tier("local", "1B")], policy(["remote", "local"])))


def events(received: bytes) -> list[bytes]:
    """The data of each event the client got."""
    return [event.removeprefix(b"data: ") for event in received.split(b"\n\n") if event]


def test_a_whole_stream_is_relayed_as_the_tier_sent_it() -> None:
    gw = gateway()
    gw.tiers.script("remote", event_stream(3))

    answer, received = gw.run(gw.stream(task="Reasoning"))

    assert answer.headers[HEADER_TIER] == "remote"
    assert [orjson.loads(e)["choices"][0]["delta"]["content"] for e in events(received)[:-1]] == ["w0 ", "w1 ", "w2 "]
    assert events(received)[-1] == b"[DONE]"  # the usage the gateway asked for is not shown to this client
    assert gw.tiers.released == 1
    assert gw.tiers.sent[0].body["stream_options"] == {"include_usage": True}


def test_a_stream_that_breaks_before_its_first_event_falls_back() -> None:
    gw = gateway()
    gw.tiers.script("remote", event_stream(0, then=Ending.BREAK))

    answer, received = gw.run(gw.stream(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote", "local"]
    assert answer.headers[HEADER_TIER] == "local"
    assert answer.headers[HEADER_FALLBACK_REASON].startswith("remote=ConnectionError")
    assert received.endswith(b"data: [DONE]\n\n") and b"error" not in received


def test_a_stream_refused_with_a_server_error_falls_back() -> None:
    gw = gateway()
    gw.tiers.script("remote", error(503))

    answer, _ = gw.run(gw.stream(task="Reasoning"))

    assert answer.headers[HEADER_FALLBACK_REASON].startswith("remote=ServerError")


def test_an_answer_that_is_not_an_event_stream_falls_back() -> None:
    gw = gateway()
    gw.tiers.script("remote", Step(chunks=(b'{"choices": []}',)))  # JSON with status 200

    answer, _ = gw.run(gw.stream(task="Reasoning"))

    assert answer.headers[HEADER_FALLBACK_REASON].startswith("remote=InvalidResponse")


def test_a_stream_that_breaks_after_its_first_byte_ends_with_an_openai_error_event() -> None:
    gw = gateway()
    gw.tiers.script("remote", event_stream(2, then=Ending.BREAK))

    answer, received = gw.run(gw.stream(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote"]  # no fallback: the client has bytes of this answer
    assert answer.headers[HEADER_TIER] == "remote"
    *deltas, failure, done = events(received)
    assert len(deltas) == 2 and done == b"[DONE]"
    assert orjson.loads(failure)["error"] == {
        "message": "tier remote failed mid-stream; the answer is incomplete",
        "type": "upstream_error",
        "param": None,
        "code": "stream_interrupted",
    }
    assert gw.dispatcher.health.stats(REMOTE).consecutive_failures == 1
    assert gw.tiers.closed == 1


def test_a_stream_that_goes_silent_ends_with_an_error_event_after_the_tiers_timeout() -> None:
    gw = gateway(remote_timeout=10)
    gw.tiers.script("remote", event_stream(1, then=Ending.SILENCE))

    _, received = gw.run(gw.stream(task="Reasoning"))

    assert b'"code":"stream_interrupted"' in received
    assert gw.clock.monotonic() == 10
    assert gw.dispatcher.health.stats(REMOTE).consecutive_failures == 1


def test_the_tiers_slot_is_held_while_the_stream_is_relayed_and_given_back_at_its_end() -> None:
    remote = tier("remote", "32B", local=False)
    remote["spec"]["limits"] = {"maxInFlight": 1}
    gw = InProcessGateway(snapshot([remote, tier("local", "1B")], policy(["remote", "local"])))
    gw.tiers.script("remote", event_stream(3))
    view = gw.dispatcher.store.current.tiers[REMOTE]
    limits: Limits = gw.dispatcher.limits

    async def scenario() -> list[bool]:
        answer = await gw.ask(task="Reasoning", stream=True)
        at_capacity = [limits.at_capacity(view)]
        async for _ in answer.chunks:  # type: ignore[union-attr]
            at_capacity.append(limits.at_capacity(view))
        return [*at_capacity, limits.at_capacity(view)]

    held = gw.run(scenario())
    assert held[:-1] == [True] * (len(held) - 1) and held[-1] is False


def test_a_stream_that_ends_before_its_first_event_falls_back() -> None:
    gw = gateway()
    gw.tiers.script("remote", Step(headers={"content-type": "text/event-stream"}))  # an empty body

    answer, received = gw.run(gw.stream(task="Reasoning"))

    assert answer.headers[HEADER_TIER] == "local"
    assert answer.headers[HEADER_FALLBACK_REASON].startswith("remote=InvalidResponse")
    assert b"error" not in received
