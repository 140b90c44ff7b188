"""The admin API: knobs change at run time, and stats show what a gateway forwarded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import openai
import pytest

from tiergate_sim.process import SimProcess

if TYPE_CHECKING:
    from conftest import SimNames

type ChatBody = Callable[..., dict[str, object]]
type Spawn = Callable[..., SimProcess]


def test_config_shows_identity_and_knobs(http: httpx.Client, names: SimNames) -> None:
    config = http.get("/sim/config").json()
    assert config["model"] == names.model
    assert config["served_model_names"] == [names.served]
    assert config["output_tokens"] == names.output_tokens
    assert config["error_rate"] == 0
    assert config["api_key"] is None


def test_put_config_takes_effect_at_once(http: httpx.Client, chat_body: ChatBody) -> None:
    updated = http.put("/sim/config", json={"output_tokens": 3, "error-rate": 0}).json()
    assert updated["output_tokens"] == 3
    answer = http.post("/v1/chat/completions", json=chat_body()).json()
    assert answer["usage"]["completion_tokens"] == 3

    http.put("/sim/config", json={"error_rate": 1}).raise_for_status()
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 500


def test_put_config_keeps_knobs_it_does_not_name(http: httpx.Client) -> None:
    http.put("/sim/config", json={"ttft_ms": 5}).raise_for_status()
    config = http.put("/sim/config", json={"hang_rate": 0.25}).json()
    assert (config["ttft_ms"], config["hang_rate"]) == (5, 0.25)


def test_delete_config_restores_the_start_up_knobs(http: httpx.Client, names: SimNames) -> None:
    http.put("/sim/config", json={"output_tokens": 2, "error_rate": 1}).raise_for_status()
    restored = http.delete("/sim/config").json()
    assert (restored["output_tokens"], restored["error_rate"]) == (names.output_tokens, 0)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": "high"}, "error_rate"),
        ({"output_tokens": 0}, "output_tokens"),
        ({"output_tokens": True}, "output_tokens"),
        ({"ttft_ms": -1}, "ttft_ms"),
        ({"no_such_knob": 1}, "no_such_knob"),
        ({"model": "other"}, "model"),
        ({"max_num_seqs": 4}, "max_num_seqs"),
        ({"enable-prefix-caching": True}, "enable_prefix_caching"),
        ({"prefill_tokens_per_second": -5}, "prefill_tokens_per_second"),
    ],
)
def test_bad_knob_updates_are_refused_whole(http: httpx.Client, patch: dict[str, object], param: str) -> None:
    response = http.put("/sim/config", json={"ttft_ms": 9, **patch})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert http.get("/sim/config").json()["ttft_ms"] == 0


def test_put_config_needs_a_json_object(http: httpx.Client) -> None:
    assert http.put("/sim/config", content=b"[1]").status_code == 400
    assert http.put("/sim/config", content=b"{oops").status_code == 400


def test_stats_show_the_forwarded_headers_and_body(sim: SimProcess, http: httpx.Client, names: SimNames) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client = openai.OpenAI(base_url=sim.base_url, api_key="tier-key", max_retries=0, timeout=10)
    client.chat.completions.create(
        model=names.model,
        messages=[{"role": "user", "content": "rewritten?"}],
        extra_headers={"traceparent": traceparent},
        extra_body={"custom_field": {"kept": True}},
    )
    stats = http.get("/sim/stats").json()
    assert stats["requests"] == 1
    assert stats["outcomes"]["ok"] == 1
    last = stats["last_request"]
    assert (last["method"], last["path"]) == ("POST", "/v1/chat/completions")
    assert last["headers"]["authorization"] == "Bearer tier-key"
    assert last["headers"]["traceparent"] == traceparent
    assert last["body"]["model"] == names.model
    assert last["body"]["custom_field"] == {"kept": True}
    assert stats["recent_requests"] == [last]


def test_stats_count_outcomes_and_reset(http: httpx.Client, chat_body: ChatBody) -> None:
    http.post("/v1/chat/completions", json=chat_body())
    http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-fault": "rate-limit"})
    http.post("/v1/chat/completions", json=chat_body(model="unknown"))
    http.post("/v1/chat/completions", json={"messages": []})
    outcomes = http.get("/sim/stats").json()["outcomes"]
    assert outcomes["ok"] == 1
    assert outcomes["rate_limited"] == 1
    assert outcomes["model_not_found"] == 1
    assert outcomes["bad_request"] == 1

    cleared = http.delete("/sim/stats").json()
    assert cleared["requests"] == 0
    assert cleared["last_request"] is None
    assert set(cleared["outcomes"].values()) == {0}
    assert (cleared["engine"]["running"], cleared["engine"]["prefix_cache_queries"]) == (0, 0)


def test_api_key_is_required_once_set(sim: SimProcess, http: httpx.Client, names: SimNames) -> None:
    config = http.put("/sim/config", json={"api_key": "sekrit"}).json()
    assert config["api_key"] == "<redacted>"
    messages = [{"role": "user", "content": "hi"}]

    wrong = openai.OpenAI(base_url=sim.base_url, api_key="wrong", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model=names.served, messages=messages)
    assert caught.value.code == "invalid_api_key"

    right = openai.OpenAI(base_url=sim.base_url, api_key="sekrit", max_retries=0, timeout=10)
    assert right.chat.completions.create(model=names.served, messages=messages).choices
    assert http.get("/sim/stats").json()["outcomes"]["unauthorized"] == 1


def test_api_key_flag(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--api-key", "k1")
    body = {"messages": [{"role": "user", "content": "hi"}]}
    url = f"{sim.url}/v1/chat/completions"
    assert httpx.post(url, json=body, timeout=10).status_code == 401
    ok = httpx.post(url, json=body, headers={"authorization": "Bearer k1"}, timeout=10)
    assert ok.status_code == 200
    # Health and the admin API stay open, as vLLM's /health does.
    assert httpx.get(f"{sim.url}/health", timeout=10).status_code == 200


def test_process_helpers_drive_the_admin_api(sim: SimProcess, http: httpx.Client, chat_body: ChatBody) -> None:
    assert sim.configure(error_rate=1)["error_rate"] == 1
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 500
    assert sim.stats()["outcomes"]["error"] == 1
    sim.reset()
    assert sim.stats()["requests"] == 0
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 200
