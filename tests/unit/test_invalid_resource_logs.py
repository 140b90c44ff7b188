"""Invalid resources are logged by field, never by value, in both sources (a misplaced key must not reach the log)."""

from __future__ import annotations

import logging

import pytest

from api_cases import endpoint_tier
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources.kube import KubeSource

SECRET = "sk-live-0123456789abcdefSECRET"


def test_kube_mode_logs_an_invalid_tier_by_field_never_by_value(caplog: pytest.LogCaptureFixture) -> None:
    source = KubeSource(SnapshotStore(), namespaces=["default"])
    document = endpoint_tier()
    document["metadata"] |= {"namespace": "default", "resourceVersion": "7"}
    document["spec"]["endpoint"]["url"] = f"https://api.example.com/v1?key={SECRET}\n"
    document["spec"]["endpoint"]["timeoutSeconds"] = SECRET
    document["spec"]["model"] = SECRET + " with a space"
    with caplog.at_level(logging.ERROR):
        assert source._parse(document) is None
    (record,) = caplog.records
    message = record.getMessage()
    assert "spec.endpoint.url" in message and "spec.endpoint.timeoutSeconds" in message and "spec.model" in message
    assert "SECRET" not in caplog.text
