"""Circuit breakers, cool-downs and live latency figures of one tier."""

from __future__ import annotations

from routing_fixtures import policy, policy_view, tier
from tiergate_gateway.runtime.health import BlockReason, BreakerSettings, CircuitState, HealthBook

KEY = "default/t"


def _book(**settings: float) -> HealthBook:
    return HealthBook(BreakerSettings(**settings))  # type: ignore[arg-type]


def test_opens_after_consecutive_failures_and_blocks() -> None:
    health = _book(consecutive_failures=3, open_seconds=10)
    assert health.record_failure(KEY, 0) is None
    assert health.record_failure(KEY, 1) is None
    assert health.record_failure(KEY, 2) == CircuitState.OPEN
    assert health.blocked(KEY, 5) == BlockReason.CIRCUIT_OPEN


def test_half_open_lets_a_limited_number_of_probes_through() -> None:
    health = _book(consecutive_failures=1, open_seconds=10, half_open_probes=1)
    health.record_failure(KEY, 0)
    assert health.state(KEY, 10) == CircuitState.HALF_OPEN and health.blocked(KEY, 10) is None
    health.attempt_started(KEY, 10)
    assert health.blocked(KEY, 10.1) == BlockReason.CIRCUIT_OPEN  # the one probe is in flight


def test_successful_probe_closes_the_circuit() -> None:
    health = _book(consecutive_failures=1, open_seconds=10)
    health.record_failure(KEY, 0)
    health.attempt_started(KEY, 11)
    assert health.record_success(KEY, 11.5) == CircuitState.CLOSED
    assert health.blocked(KEY, 11.6) is None and health.state(KEY, 11.6) == CircuitState.CLOSED


def test_failed_probe_opens_it_again_for_a_full_period() -> None:
    health = _book(consecutive_failures=1, open_seconds=10)
    health.record_failure(KEY, 0)
    health.attempt_started(KEY, 12)
    assert health.record_failure(KEY, 12.5) == CircuitState.OPEN
    assert health.blocked(KEY, 20) == BlockReason.CIRCUIT_OPEN and health.blocked(KEY, 22.6) is None


def test_error_rate_over_the_window_opens_without_consecutive_failures() -> None:
    health = _book(consecutive_failures=100, error_rate=0.5, window=10, min_samples=10)
    opened = None
    for i in range(10):  # alternate: never two failures in a row, half of all calls fail
        if i % 2:
            opened = health.record_failure(KEY, i) or opened
        else:
            health.record_success(KEY, i)
    assert opened == CircuitState.OPEN


def test_retry_after_cools_the_tier_down_for_that_long() -> None:
    health = _book()
    health.record_failure(KEY, 100, retry_after=30)
    assert health.blocked(KEY, 129) == BlockReason.COOLING_DOWN
    assert health.blocked(KEY, 131) is None


def test_expected_latency_uses_priors_then_live_figures() -> None:
    view = policy_view([tier("t", "1B", ttft=100, tps=100)], policy(["t"]))
    t = view.tiers[0]
    health = _book(ewma_alpha=1.0)
    assert health.expected_ms(t, 100) == 100 + 1000
    health.record_success(t.key, 0, ttft_ms=10, tokens_per_second=1000)
    assert health.expected_ms(t, 100) == 10 + 100


def test_shared_blocks_from_other_replicas_are_adopted() -> None:
    health = _book(open_seconds=10)
    health.open_until(KEY, 15, now=7)
    assert health.blocked(KEY, 8) == BlockReason.CIRCUIT_OPEN and health.blocked(KEY, 15) is None
    health.cool_down_until("default/u", 50)
    assert health.blocked("default/u", 49) == BlockReason.COOLING_DOWN


def test_an_abandoned_probe_is_released_so_the_circuit_can_close() -> None:
    health = _book(consecutive_failures=1, open_seconds=10, half_open_probes=1)
    health.record_failure(KEY, 0)
    health.attempt_started(KEY, 10)  # the probe goes out, then its caller is cancelled
    health.probe_abandoned(KEY)
    assert health.blocked(KEY, 10.1) is None  # the next request may probe
    health.attempt_started(KEY, 10.1)
    assert health.record_success(KEY, 10.2) == CircuitState.CLOSED


def test_usable_at_is_when_a_cool_down_or_open_period_ends() -> None:
    health = _book(consecutive_failures=1, open_seconds=30)
    assert health.usable_at(KEY, 5) == 5  # never seen: usable now
    health.record_failure(KEY, 10, retry_after=5)
    assert health.usable_at(KEY, 11) == 40  # open until 10 + 30, which outlasts the cool-down to 15
    other = "default/u"
    health.record_success(other, 0)
    health.cool_down_until(other, 25)
    assert health.usable_at(other, 20) == 25
