"""The chart's values for seeing what routing does (docs/replay.md): the /ui status page and the decision log."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_harness import KUBERNETES_VERSION, HelmError, HelmWorker, Release, install, new_cluster, render

DECISION_LOG_ENV = (
    "TIERGATE_POD_NAME",
    "TIERGATE_DECISION_LOG",
    "TIERGATE_DECISION_LOG_MAX_BYTES",
    "TIERGATE_DECISION_LOG_BACKUPS",
    "TIERGATE_DECISION_LOG_CONTENT",
)
LOG_MOUNT = {"name": "decision-log", "mountPath": "/var/log/tiergate"}


def _pod(release: Release) -> dict[str, Any]:
    return release.one("Deployment", "-gateway")["spec"]["template"]["spec"]


def _gateway(release: Release) -> dict[str, Any]:
    return _pod(release)["containers"][0]


def _env(release: Release) -> dict[str, Any]:
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in _gateway(release).get("env", [])}


def _env_names(release: Release) -> list[str]:
    return [var["name"] for var in _gateway(release)["env"]]


def _log_volumes(release: Release) -> list[dict[str, Any]]:
    return [v for v in _pod(release)["volumes"] if v["name"] == "decision-log"]


def _keys_file(release: Release) -> dict[str, Any]:
    secret = release.one("Secret", "-gateway-auth")
    return yaml.safe_load(base64.b64decode(secret["data"]["keys.yaml"]))


# ---------------------------------------------------------------- the status page


def test_defaults_serve_the_status_page_and_write_no_decision_log(rendered: dict[str, Release]) -> None:
    release = rendered["default"]
    env = _env(release)
    assert env["TIERGATE_UI"] == "true"
    assert env["TIERGATE_UI_RECENT_DECISIONS"] == "300"
    assert [name for name in DECISION_LOG_ENV if name in env] == []
    assert _log_volumes(release) == []
    assert LOG_MOUNT not in _gateway(release)["volumeMounts"]


def test_the_status_page_can_be_turned_off(helm: HelmWorker, tmp_path: Path) -> None:
    env = _env(render(helm, {"gateway": {"ui": {"enabled": False}}}, tmp_path))
    assert env["TIERGATE_UI"] == "false"
    assert "TIERGATE_UI_RECENT_DECISIONS" not in env


def test_the_generated_key_is_an_admin_key_by_default(rendered: dict[str, Release]) -> None:
    (entry,) = _keys_file(rendered["default"])["keys"]
    assert entry["scopes"] == ["admin"]
    assert entry["policies"] == ["*"]


def test_the_generated_key_can_be_left_without_scopes(helm: HelmWorker, tmp_path: Path) -> None:
    (entry,) = _keys_file(render(helm, {"gateway": {"auth": {"admin": False}}}, tmp_path))["keys"]
    assert "scopes" not in entry
    assert set(entry) == {"key", "tenant", "policies"}


def test_an_upgrade_keeps_the_existing_keys_file_whatever_admin_says(helm: HelmWorker, tmp_path: Path) -> None:
    """Documented in values.yaml: the scope is decided when the Secret is created; rotate by deleting it."""
    cluster = new_cluster(tmp_path)
    try:
        first = install(helm, cluster)
        second = install(helm, cluster, {"gateway": {"auth": {"admin": False}}}, upgrade=True)
    finally:
        cluster.close()
    assert second.one("Secret", "-gateway-auth")["data"] == first.one("Secret", "-gateway-auth")["data"]
    assert _keys_file(second)["keys"][0]["scopes"] == ["admin"]


# ---------------------------------------------------------------- the decision log


def test_decision_log_goes_to_a_file_per_pod_on_a_size_limited_emptydir(helm: HelmWorker, tmp_path: Path) -> None:
    values = {"gateway": {"decisionLog": {"enabled": True, "sizeLimit": "2Gi", "maxBytes": 268435456, "backups": 7}}}
    release = render(helm, values, tmp_path)
    names = _env_names(release)
    # $(TIERGATE_POD_NAME) is expanded only from variables defined before it.
    assert [name for name in names if name in DECISION_LOG_ENV] == list(DECISION_LOG_ENV)
    env = _env(release)
    assert env["TIERGATE_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["TIERGATE_DECISION_LOG"] == "/var/log/tiergate/$(TIERGATE_POD_NAME).jsonl"
    assert env["TIERGATE_DECISION_LOG_MAX_BYTES"] == "268435456"
    assert env["TIERGATE_DECISION_LOG_BACKUPS"] == "7"
    assert env["TIERGATE_DECISION_LOG_CONTENT"] == "false"
    assert _log_volumes(release) == [{"name": "decision-log", "emptyDir": {"sizeLimit": "2Gi"}}]
    gateway = _gateway(release)
    assert LOG_MOUNT in gateway["volumeMounts"]
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True  # the volume is what is writable
    kubernetes_validate.validate(release.one("Deployment", "-gateway"), KUBERNETES_VERSION, strict=True)


def test_decision_log_defaults_rotate_at_100_mib_and_keep_5_in_1_gib(helm: HelmWorker, tmp_path: Path) -> None:
    release = render(helm, {"gateway": {"decisionLog": {"enabled": True}}}, tmp_path)
    env = _env(release)
    assert env["TIERGATE_DECISION_LOG_MAX_BYTES"] == "104857600"
    assert env["TIERGATE_DECISION_LOG_BACKUPS"] == "5"
    assert _log_volumes(release) == [{"name": "decision-log", "emptyDir": {"sizeLimit": "1Gi"}}]


def test_decision_log_on_an_existing_claim_with_content(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]  # existingClaim tiergate-decision-log, captureContent, maxBytes, backups
    assert _log_volumes(release) == [
        {"name": "decision-log", "persistentVolumeClaim": {"claimName": "tiergate-decision-log"}}
    ]
    assert LOG_MOUNT in _gateway(release)["volumeMounts"]
    env = _env(release)
    assert env["TIERGATE_DECISION_LOG_CONTENT"] == "true"
    assert env["TIERGATE_DECISION_LOG_MAX_BYTES"] == "52428800"
    assert env["TIERGATE_DECISION_LOG_BACKUPS"] == "3"
    assert env["TIERGATE_UI_RECENT_DECISIONS"] == "1000"


def test_values_at_the_bounds_are_accepted(helm: HelmWorker, tmp_path: Path) -> None:
    values = {
        "gateway": {
            "ui": {"recentDecisions": 10000},
            "decisionLog": {"enabled": True, "maxBytes": 65536, "backups": 0, "sizeLimit": "512Mi"},
        }
    }
    env = _env(render(helm, values, tmp_path))
    assert (
        env["TIERGATE_UI_RECENT_DECISIONS"],
        env["TIERGATE_DECISION_LOG_MAX_BYTES"],
        env["TIERGATE_DECISION_LOG_BACKUPS"],
    ) == ("10000", "65536", "0")


# ---------------------------------------------------------------- the schema


WRONG_VALUES = [
    pytest.param({"ui": {"enabled": "no"}}, "/gateway/ui/enabled'", id="ui.enabled-string"),
    pytest.param({"ui": {"recentDecisions": 0}}, "/gateway/ui/recentDecisions'", id="ui.recentDecisions-zero"),
    pytest.param({"ui": {"recentDecisions": 10001}}, "/gateway/ui/recentDecisions'", id="ui.recentDecisions-too-many"),
    pytest.param({"auth": {"admin": "yes"}}, "/gateway/auth/admin'", id="auth.admin-string"),
    pytest.param(
        {"decisionLog": {"maxBytes": 65535}}, "/gateway/decisionLog/maxBytes'", id="decisionLog.maxBytes-too-small"
    ),
    pytest.param(
        {"decisionLog": {"maxBytes": "100Mi"}}, "/gateway/decisionLog/maxBytes'", id="decisionLog.maxBytes-string"
    ),
    pytest.param({"decisionLog": {"backups": -1}}, "/gateway/decisionLog/backups'", id="decisionLog.backups-negative"),
    pytest.param({"decisionLog": {"backups": 101}}, "/gateway/decisionLog/backups'", id="decisionLog.backups-too-many"),
    pytest.param(
        {"decisionLog": {"sizeLimit": "a lot"}},
        "/gateway/decisionLog/sizeLimit'",
        id="decisionLog.sizeLimit-not-a-quantity",
    ),
    pytest.param(
        {"decisionLog": {"existingClaim": "My_Claim"}},
        "/gateway/decisionLog/existingClaim'",
        id="decisionLog.existingClaim-name",
    ),
    pytest.param(
        {"decisionLog": {"enable": True}},
        "/gateway/decisionLog': additional properties 'enable'",
        id="decisionLog-misspelt-key",
    ),
]


@pytest.mark.parametrize(("gateway", "where"), WRONG_VALUES)
def test_values_schema_rejects_wrong_values(
    helm: HelmWorker, tmp_path: Path, gateway: dict[str, Any], where: str
) -> None:
    """`where` is the start of Helm's message for the offending value: its JSON pointer."""
    cluster = new_cluster(tmp_path)
    try:
        with pytest.raises(HelmError, match=rf"(?s)schema.*at '{re.escape(where)}"):
            install(helm, cluster, {"gateway": gateway})
    finally:
        cluster.close()
