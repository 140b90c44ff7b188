"""Reading vLLM's metrics: real pages, hostile pages, and the scraper's bounds."""

from __future__ import annotations

import asyncio

import httpx

from tiergate_gateway.core.vllm_metrics import MAX_LINE, metrics_url, parse
from tiergate_gateway.runtime.replicas import ReplicaPool
from tiergate_gateway.upstream.scraper import Scraper, ScrapeSettings

VLLM_PAGE = b"""# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 7.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.42
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 12800.0
vllm:prefix_cache_hits_total{engine="0",model_name="Qwen/Qwen2.5-7B-Instruct"} 9600.0
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="Qwen/Qwen2.5-7B-Instruct"} 0.0
"""


def test_reads_vllms_queue_cache_and_prefix_figures() -> None:
    signals = parse(VLLM_PAGE)
    assert signals is not None
    assert (signals.running, signals.waiting, signals.kv_usage) == (7.0, 3.0, 0.42)


def test_reads_the_older_gpu_cache_gauge_and_sums_engines() -> None:
    page = (
        b'vllm:num_requests_waiting{engine="0"} 2\nvllm:num_requests_waiting{engine="1"} 5\n'
        b'vllm:gpu_cache_usage_perc{engine="0"} 0.2\nvllm:gpu_cache_usage_perc{engine="1"} 0.6\n'
    )
    signals = parse(page)
    assert signals is not None and signals.waiting == 7 and signals.kv_usage == 0.4


def test_a_page_without_vllm_gauges_is_no_signal() -> None:
    assert parse(b"# nothing here\nprocess_cpu_seconds_total 3\n") is None
    assert parse(b"") is None


def test_garbage_overlong_and_impossible_values_are_skipped() -> None:
    page = b"\n".join(
        [
            b"vllm:num_requests_waiting{" + b"x" * (MAX_LINE + 10) + b"} 99",
            b"vllm:num_requests_waiting NaN",
            b"vllm:num_requests_waiting -4",
            b"vllm:num_requests_waiting {unterminated 3",
            b"vllm:num_requests_waiting",
            b"vllm:num_requests_running 1e400",
            b"\xff\xfe binary",
            b"vllm:num_requests_running 2",
            b"vllm:kv_cache_usage_perc 7",
        ]
    )
    signals = parse(page)
    assert signals is not None and signals.running == 2 and signals.waiting == 0 and signals.kv_usage == 1.0


def test_a_page_of_endless_matching_samples_stops_early() -> None:
    page = b"vllm:num_requests_waiting 1\n" * 100_000
    signals = parse(page)
    assert signals is not None and signals.waiting <= 256


def test_metrics_url_drops_the_openai_suffix() -> None:
    assert metrics_url("http://10.1.2.3:8000/v1") == "http://10.1.2.3:8000/metrics"
    assert metrics_url("http://pool.local/llm/v1/") == "http://pool.local/llm/metrics"


def _scraper(handler: httpx.MockTransport, pool: ReplicaPool, **settings: float) -> Scraper:
    return Scraper(
        lambda: [pool],
        ScrapeSettings(**settings),  # type: ignore[arg-type]
        clock=lambda: 100.0,
        client=httpx.AsyncClient(transport=handler),
    )


async def test_a_scrape_records_signals_and_a_failed_one_marks_them_stale() -> None:
    pages = {"good": VLLM_PAGE}

    def answer(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "down":
            raise httpx.ConnectError("refused")
        if host == "teapot":
            return httpx.Response(418)
        return httpx.Response(200, content=pages.get(host, b"not metrics"))

    pool = ReplicaPool(["http://good/v1", "http://down/v1", "http://teapot/v1", "http://other/v1"])
    for url in pool.urls:
        pool.record_signals(url, 1, 1, 0.1, 99.0)
    scraper = _scraper(httpx.MockTransport(answer), pool)
    await scraper.scrape_once()
    by_url = {r.url: r.signals for r in pool.replicas}
    assert by_url["http://good/v1"].waiting == 3.0 and by_url["http://good/v1"].at == 100.0
    assert all(by_url[u].at < 0 for u in ("http://down/v1", "http://teapot/v1", "http://other/v1"))
    assert scraper.failures == 3
    assert pool.urls == ["http://good/v1", "http://down/v1", "http://teapot/v1", "http://other/v1"]  # none dropped


async def test_an_oversized_page_is_not_read_past_the_cap() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=VLLM_PAGE + b"#" * 5_000_000)

    pool = ReplicaPool(["http://big/v1"])
    scraper = _scraper(httpx.MockTransport(answer), pool, max_bytes=64 * 1024)
    await scraper.scrape_once()
    assert pool.replicas[0].signals.at < 0 and scraper.failures == 1


async def test_a_replica_that_never_answers_costs_one_timeout() -> None:
    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, content=VLLM_PAGE)

    pool = ReplicaPool(["http://stuck/v1", "http://stuck2/v1"])
    scraper = _scraper(httpx.MockTransport(answer), pool, timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await scraper.scrape_once()
    assert loop.time() - started < 1.0
    assert scraper.failures == 2
