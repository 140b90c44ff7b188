"""The scheduler: a limit on running sequences, a FIFO queue, KV-cache room, and clients leaving.

Clients hold their answers until the test lets them go, so each state lasts as long as the
test needs to observe it, however loaded the machine. Timing assertions are orderings, lower
bounds, or upper bounds far below what the wrong behaviour would take (a slot held for 50 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from engine_probes import WAIT, chat, first_token_at, let_go_on_exit, metrics, wait_for

from tiergate_sim.process import SimProcess

type Spawn = Callable[..., SimProcess]

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = "vllm:kv_cache_usage_perc"
SLOW = ("--tokens-per-second", "2", "--output-tokens", "100")
"""Answers of 50 s: whatever ends one early is the test's doing (a client leaving)."""


def _idle(values: dict[str, float]) -> bool:
    return values[RUNNING] == 0 and values[WAITING] == 0 and values[KV_USAGE] == 0


def test_a_request_beyond_max_num_seqs_waits_for_a_slot(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--max-num-seqs", "2", *SLOW)
    with ThreadPoolExecutor(3) as pool, let_go_on_exit() as leave:
        holders = [pool.submit(first_token_at, sim, chat("hi"), hold=leave) for _ in range(2)]
        wait_for(sim, lambda m: m[RUNNING] == 2)
        sent = time.monotonic()
        third = pool.submit(first_token_at, sim, chat("hi"), hold=0.01)
        queued = wait_for(sim, lambda m: m[WAITING] == 1)
        time.sleep(0.3)
        still_queued = metrics(sim)
        released = time.monotonic()
        leave.set()
        third_first_token = third.result()
        for holder in holders:
            holder.result()
    assert (queued[RUNNING], still_queued[RUNNING], still_queued[WAITING]) == (2, 2, 1)
    # Its first token came once a slot was free: the wait is part of its TTFT.
    assert third_first_token > released
    assert third_first_token - sent >= 0.3
    wait_for(sim, _idle)


def test_a_client_leaving_mid_answer_frees_its_slot(spawn: Spawn) -> None:
    # One slot, and answers of 50 s: only the holder leaving lets the next request in.
    sim = spawn("--model", "m", "--max-num-seqs", "1", *SLOW)
    with ThreadPoolExecutor(2) as pool, let_go_on_exit() as leave:
        holder = pool.submit(first_token_at, sim, chat("hi"), hold=leave)
        wait_for(sim, lambda m: m[RUNNING] == 1)
        follower = pool.submit(first_token_at, sim, chat("hi"), hold=0.01)
        queued = wait_for(sim, lambda m: m[WAITING] == 1)
        stats = httpx.get(f"{sim.url}/sim/stats", timeout=10).json()["engine"]
        released = time.monotonic()
        leave.set()
        follower_first_token = follower.result()
        holder.result()
    assert queued[RUNNING] == 1
    assert (stats["running"], stats["waiting"]) == (1, 1)
    assert follower_first_token - released < WAIT
    wait_for(sim, _idle)
    assert httpx.get(f"{sim.url}/sim/stats", timeout=10).json()["outcomes"]["client_gone"] == 2


def test_a_client_leaving_the_queue_gives_up_its_place(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--max-num-seqs", "1", *SLOW)

    def give_up_waiting() -> None:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{sim.url}/v1/chat/completions", json=chat("hi"), timeout=1.5)

    with ThreadPoolExecutor(2) as pool, let_go_on_exit() as leave:
        holder = pool.submit(first_token_at, sim, chat("hi"), hold=leave)
        wait_for(sim, lambda m: m[RUNNING] == 1)
        quitter = pool.submit(give_up_waiting)
        wait_for(sim, lambda m: m[WAITING] == 1)
        gave_up = wait_for(sim, lambda m: m[WAITING] == 0)
        quitter.result()
        leave.set()
        holder.result()
    assert gave_up[RUNNING] == 1
    wait_for(sim, _idle)
    # Nothing of the request that left is still queued ahead of a new one.
    started = time.monotonic()
    first_token_at(sim, chat("hi"), hold=0.01)
    assert time.monotonic() - started < WAIT


def test_requests_wait_for_kv_cache_room(spawn: Spawn) -> None:
    # 8 blocks of 16 tokens. A 52-token prompt with a 20-token answer holds 5 blocks (72 tokens),
    # so one such request fits at a time, whatever --max-num-seqs says.
    sim = spawn("--model", "m", "--num-gpu-blocks-override", "8", "--tokens-per-second", "2", "--output-tokens", "20")
    body = chat("x" * 207)  # 52 tokens at 4 characters a token
    with ThreadPoolExecutor(2) as pool, let_go_on_exit() as leave:
        first = pool.submit(first_token_at, sim, body, hold=leave)
        running = wait_for(sim, lambda m: m[RUNNING] == 1)
        second = pool.submit(first_token_at, sim, body, hold=0.01)
        queued = wait_for(sim, lambda m: m[WAITING] == 1)
        released = time.monotonic()
        leave.set()
        second_first_token = second.result()
        first.result()
    assert running[KV_USAGE] == 5 / 8
    assert (queued[RUNNING], queued[KV_USAGE]) == (1, 5 / 8)
    assert second_first_token > released
    wait_for(sim, _idle)


def test_a_request_larger_than_the_kv_cache_is_refused(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--num-gpu-blocks-override", "4", "--output-tokens", "4")
    response = httpx.post(f"{sim.url}/v1/chat/completions", json=chat("x" * 300), timeout=10)  # 75 + 4 tokens
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    fits = httpx.post(f"{sim.url}/v1/chat/completions", json=chat("x" * 200), timeout=10)  # 50 + 4 tokens
    assert fits.status_code == 200


def test_without_engine_flags_nothing_waits(http: httpx.Client, sim: SimProcess) -> None:
    config = http.get("/sim/config").json()
    assert (config["max_num_seqs"], config["enable_prefix_caching"], config["block_size"]) == (None, False, 16)
    assert config["num_gpu_blocks"] == 65536
    http.put("/sim/config", json={"tokens_per_second": 2}).raise_for_status()  # 8 tokens: 3.5 s
    with ThreadPoolExecutor(12) as pool, let_go_on_exit() as leave:
        answers = [pool.submit(first_token_at, sim, chat("hi"), hold=leave) for _ in range(12)]
        busy = wait_for(sim, lambda m: m[RUNNING] == 12)
        leave.set()
        for answer in answers:
            answer.result()
    assert busy[WAITING] == 0
    assert 0 < busy[KV_USAGE] < 0.01
    assert metrics(sim)["vllm:prefix_cache_queries_total"] == 0
    wait_for(sim, _idle)
