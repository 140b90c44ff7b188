"""A policy's external classifier (`spec.classifier.external`): a real gateway asks a real service on
loopback (`tiergate sim`'s /v1/classify), and falls back to the built-in classifier when it cannot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tiergate_demo.process import GatewayProcess, free_port
from tiergate_gateway.dispatch.external_classifiers import FAILURES_TO_OPEN
from tiergate_sim.process import SimProcess, start_sim
from tiers_setup import write_config

HELLO = "hi there, how is your day going?"
"""The built-in classifier reads Chat: the 1B tier (remote-a) answers it."""
TOKEN = "cls-token-7f3a9b2c4d6e8f0a1b3c5d7e"


@pytest.fixture(scope="module")
def service() -> Iterator[SimProcess]:
    """The team's classifier service."""
    with start_sim(["--model", "org/classifier"]) as process:
        yield process


@pytest.fixture
def classifier(service: SimProcess) -> SimProcess:
    service.reset()
    return service


def external(service: SimProcess, **fields: Any) -> dict[str, Any]:
    return {"external": {"url": f"{service.base_url}/classify", "timeoutMilliseconds": 300, **fields}}


def body(text: str = HELLO) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}]}


def explain(gateway: GatewayProcess, **headers: str) -> dict[str, Any]:
    answer = httpx.post(f"{gateway.url}/v1/route/explain", json=body(), headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def classify_calls(service: SimProcess) -> list[dict[str, Any]]:
    return [r for r in service.stats()["recent_requests"] if r["path"] == "/v1/classify"]


def test_the_services_task_routes_the_request_and_it_sees_the_clients_body(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    classifier.configure(classify_task="summarization", classify_confidence=0.9)
    gateway = gateway_factory(classifier=external(classifier))
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=body(), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-tiergate-tier"] == "remote-b"  # Summarization starts at 3B; Chat would be remote-a
    seen = classify_calls(classifier)
    assert len(seen) == 1
    assert seen[0]["body"] == body()
    assert seen[0]["headers"]["x-request-id"] == answer.headers["x-request-id"]
    assert seen[0]["headers"]["x-tiergate-policy"] == "main"
    document = explain(gateway)
    assert document["task"] == "Summarization"
    assert document["task_source"] == "external"
    assert document["external_classifier"]["outcome"] == "Ok"
    assert document["external_classifier"]["confidence"] == 0.9
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'tiergate_external_classifier_total{outcome="Ok",policy="main"} 2.0' in metrics
    assert 'tiergate_classifier_decisions_total{source="external",task="Summarization"}' in metrics


def test_a_slow_service_costs_at_most_its_timeout_then_the_built_in_classifier_decides(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    classifier.configure(classify_task="Reasoning", classify_delay_ms=3000)
    gateway = gateway_factory(classifier=external(classifier, timeoutMilliseconds=150))
    started = time.monotonic()
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=body(), timeout=10)
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-tiergate-tier"] == "remote-a"  # the built-in classifier's Chat
    assert took < 2.5, "the request waited for the service past its timeout"
    document = explain(gateway)
    assert document["task_source"] == "classifier"
    assert document["external_classifier"]["outcome"] == "Timeout"
    assert document["external_classifier"]["detail"] == "no answer within 150 ms"
    assert (
        'tiergate_external_classifier_total{outcome="Timeout",policy="main"}'
        in httpx.get(f"{gateway.url}/metrics").text
    )


@pytest.mark.parametrize(
    ("knobs", "outcome", "detail"),
    [
        ({"error_rate": 1.0}, "HttpError", "HTTP 500"),
        ({"rate_limit_rate": 1.0}, "HttpError", "HTTP 429"),
        ({"classify_body": "<html>busy</html>"}, "InvalidAnswer", "the answer is not JSON"),
        ({"classify_body": '["Chat"]'}, "InvalidAnswer", "the answer is not a JSON object"),
        ({"classify_body": '{"label": "Chat"}'}, "InvalidAnswer", 'the answer has no "task" string'),
        ({"classify_task": "Poetry"}, "InvalidAnswer", "unknown task 'Poetry'"),
        ({"classify_body": '{"task": "Chat", "confidence": 87}'}, "InvalidAnswer", '"confidence" must be'),
        ({"classify_body": '{"task": "' + "x" * 70_000 + '"}'}, "InvalidAnswer", "larger than 65536 bytes"),
        ({"classify_task": "Reasoning" * 500}, "InvalidAnswer", "unknown task 'ReasoningReasoning"),
    ],
)
def test_a_failing_service_is_named_and_the_built_in_classifier_decides(
    gateway_factory: Callable[..., GatewayProcess],
    classifier: SimProcess,
    knobs: dict[str, Any],
    outcome: str,
    detail: str,
) -> None:
    classifier.configure(**knobs)
    gateway = gateway_factory(classifier=external(classifier))
    document = explain(gateway)
    assert document["task"] == "Chat"
    assert document["task_source"] == "classifier"
    assert document["external_classifier"]["outcome"] == outcome
    assert detail in document["external_classifier"]["detail"]
    assert "classifier" in document  # the built-in classifier's evidence is shown, as without a service
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=body(), timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_service_that_is_not_there_is_a_connection_error(gateway_factory: Callable[..., GatewayProcess]) -> None:
    port = free_port()  # nobody listens on it
    gateway = gateway_factory(classifier={"external": {"url": f"http://127.0.0.1:{port}/classify"}})
    document = explain(gateway)
    assert document["external_classifier"]["outcome"] == "ConnectionError"
    assert str(port) not in document["external_classifier"]["detail"]  # details never name the URL
    assert document["task"] == "Chat"


def test_a_service_that_keeps_failing_is_left_alone_for_a_while(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    classifier.configure(error_rate=1.0)
    gateway = gateway_factory(classifier=external(classifier))
    outcomes = [explain(gateway)["external_classifier"]["outcome"] for _ in range(FAILURES_TO_OPEN + 3)]
    assert outcomes == ["HttpError"] * FAILURES_TO_OPEN + ["CircuitOpen"] * 3
    assert len(classify_calls(classifier)) == FAILURES_TO_OPEN
    assert "failed 5 times in a row" in gateway.logs()


def test_a_task_header_wins_and_the_service_is_not_asked(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    classifier.configure(classify_task="Reasoning")
    gateway = gateway_factory(classifier=external(classifier))
    document = explain(gateway, **{"x-tiergate-task": "Extraction"})
    assert document["task"] == "Extraction"
    assert document["task_source"] == "header"
    assert "external_classifier" not in document
    assert classify_calls(classifier) == []


def test_low_confidence_applies_to_the_services_confidence(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    classifier.configure(classify_task="Summarization", classify_confidence=0.3)
    unsure = {"belowPercent": 50, "action": "DefaultTask", "defaultTask": "Extraction"}
    gateway = gateway_factory(classifier={**external(classifier), "lowConfidence": unsure})
    document = explain(gateway)
    assert (document["task"], document["task_source"]) == ("Extraction", "low_confidence_default")
    classifier.configure(classify_confidence=0.8)
    document = explain(gateway)
    assert (document["task"], document["task_source"]) == ("Summarization", "external")


def test_the_key_comes_from_a_secret_and_never_shows(
    gateway_factory: Callable[..., GatewayProcess],
    classifier: SimProcess,
    upstreams: dict[str, SimProcess],
    tmp_path: Path,
) -> None:
    classifier.configure(api_key=TOKEN, classify_task="Extraction")
    ref = {"apiKeySecretRef": {"name": "classifier", "key": "token"}}
    folder = write_config(tmp_path / "keyed", upstreams, classifier=external(classifier, **ref))
    (folder / "secrets" / "classifier").mkdir()
    (folder / "secrets" / "classifier" / "token").write_text(TOKEN + "\n")
    gateway = gateway_factory(config=folder)
    document = explain(gateway)
    assert document["external_classifier"]["outcome"] == "Ok"
    assert classify_calls(classifier)[-1]["headers"]["authorization"] == f"Bearer {TOKEN}"
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=body(), timeout=10)
    for shown in (str(document), answer.text, httpx.get(f"{gateway.url}/metrics").text, gateway.logs()):
        assert TOKEN not in shown


def test_a_missing_secret_is_named_and_the_service_is_not_asked(
    gateway_factory: Callable[..., GatewayProcess], classifier: SimProcess
) -> None:
    ref = {"apiKeySecretRef": {"name": "nowhere", "key": "token"}}
    gateway = gateway_factory(classifier=external(classifier, **ref))
    document = explain(gateway)
    assert document["external_classifier"]["outcome"] == "SecretNotFound"
    assert "Secret 'nowhere'" in document["external_classifier"]["detail"]
    assert classify_calls(classifier) == []
