"""`tiergate operator`: its flags, and the command run for real as a process against the emulator."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import RunningEmulator
from operator_manifests import vllm_tier
from otlp import Receiver, attrs
from tiergate_operator.cli import kopf_options, register


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tiergate")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["operator", *argv])


def test_defaults_watch_every_namespace_at_info_level() -> None:
    args = parse()
    assert args.log_level == "INFO"
    options = kopf_options(args)
    assert options["clusterwide"] is True and options["namespaces"] == []
    assert "peering_name" not in options and "standalone" not in options
    assert callable(args.handler)


def test_namespaces_repeat_and_deduplicate() -> None:
    options = kopf_options(parse("--namespace", "models", "-n", "team-a", "--namespace", "models"))
    assert options["namespaces"] == ["models", "team-a"]
    assert options["clusterwide"] is False


def test_peering_gets_a_random_priority_unless_one_is_given() -> None:
    options = kopf_options(parse("--peering", "tiergate"))
    assert options["peering_name"] == "tiergate" and 1 <= options["priority"] < 2**31
    assert kopf_options(parse("--peering", "tiergate", "--priority", "7"))["priority"] == 7


def test_standalone_liveness_and_log_level() -> None:
    args = parse("--standalone", "--liveness", "http://0.0.0.0:8080/healthz", "--log-level", "debug")
    options = kopf_options(args)
    assert options["standalone"] is True and options["liveness_endpoint"] == "http://0.0.0.0:8080/healthz"
    assert args.log_level == "DEBUG"


@pytest.mark.parametrize(
    "argv", [("--namespace", "a", "--all-namespaces"), ("--standalone", "--peering", "p"), ("--log-level", "LOUD")]
)
def test_conflicting_or_unknown_flags_are_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2


def test_registering_the_command_does_not_import_kopf() -> None:
    code = "import sys, argparse; from tiergate_operator.cli import register; print('kopf' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_result = check()
        if with_result:
            return with_result
        time.sleep(0.1)
    raise TimeoutError("the operator process did not get there in time")


def test_the_command_runs_the_operator_until_sigterm(kube_emulator: RunningEmulator) -> None:
    port = free_port()
    env = {
        **os.environ,
        **kube_emulator.env,
        "TIERGATE_OPERATOR_VLLM_IMAGE": "mirror.example/vllm-openai:v0.21.0",
        "TIERGATE_OPERATOR_OTLP_TRACES_ENDPOINT": "http://otel-collector:4317",
    }
    command = [sys.executable, "-m", "tiergate_operator", "operator", "--namespace", "default", "--standalone"]
    metrics_port = free_port()
    command += ["--liveness", f"http://127.0.0.1:{port}/healthz", "--log-level", "WARNING"]
    command += ["--metrics-port", str(metrics_port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        kube_emulator.create(vllm_tier(None))
        deployment = wait(lambda: kube_emulator.get("deployments", "small-vllm"))
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "mirror.example/vllm-openai:v0.21.0"  # settings come from the environment
        assert "http://otel-collector:4317" in container["args"]

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        wait(healthy)

        def reconciled() -> dict[str, float] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1) as response:
                    text = response.read().decode()
            except OSError:
                return None
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            ok = samples.get(("tiergate_operator_reconciles_total", (("kind", "ModelTier"), ("result", "ok"))), 0)
            return samples if ok >= 1 else None

        samples = wait(reconciled)
        assert any(name == "tiergate_operator_tiers" and ("condition", "Ready") in labels for name, labels in samples)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


def test_each_reconcile_is_a_span(kube_emulator: RunningEmulator) -> None:
    receiver = Receiver()
    env = {
        **os.environ,
        **kube_emulator.env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_SERVICE_NAME": "tiergate-operator",
    }
    command = [
        sys.executable,
        "-m",
        "tiergate_operator",
        "operator",
        "--namespace",
        "default",
        "--standalone",
        "--metrics-port",
        "0",
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        kube_emulator.create(vllm_tier(None))
        spans = receiver.wait_for(lambda found: any(s.name == "tiergate.reconcile" for s in found), timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        receiver.server.shutdown()
    reconcile = next(attrs(s) for s in spans if s.name == "tiergate.reconcile")
    assert reconcile["tiergate.kind"] == "ModelTier" and reconcile["tiergate.name"] == "small"
    assert reconcile["tiergate.outcome"] == "ok"
