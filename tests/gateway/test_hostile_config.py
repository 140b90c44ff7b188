"""What a hostile config folder can do to a running gateway: refused files, no stalls, no 500s, no leaks.

Each test starts a real gateway over a config folder for the simulators, then drops a hostile
file beside the good ones (or starts with one) and checks the gateway keeps serving the last
good state, reports the file, and stays small, quick and stoppable.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from hostile_yaml import alias_bomb
from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import TIERS, stats, tier_document, write_config

CHAT = {"x-tiergate-task": "Chat"}
SECRET = "sk-live-0123456789abcdefSECRET"


def _chat(gateway: GatewayProcess, model: str = "auto") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 4}
    return httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers=CHAT, timeout=10)


def _wait_for_log(gateway: GatewayProcess, *needles: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = gateway.logs()
        if all(needle in logs for needle in needles):
            return logs
        time.sleep(0.1)
    raise AssertionError(f"no log with {needles} within {timeout}s:\n{gateway.logs()[-3000:]}")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def test_alias_bomb_is_refused_while_the_gateway_keeps_serving_and_stops_on_sigterm(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    folder = write_config(tmp_path / "config", upstreams)
    gateway = gateway_factory(config=folder)
    assert _chat(gateway).status_code == 200
    peak_before = _peak_rss_kib(gateway.process.pid)
    (folder / "bomb.yaml").write_text(alias_bomb())
    deadline = time.monotonic() + 10
    while "bomb.yaml" not in gateway.logs() and time.monotonic() < deadline:
        started = time.monotonic()
        response = _chat(gateway)
        assert response.status_code == 200 and time.monotonic() - started < 2.0
    logs = _wait_for_log(gateway, "bomb.yaml", timeout=1.0)
    assert _chat(gateway).headers["x-tiergate-tier"] == "remote-a"
    assert _peak_rss_kib(gateway.process.pid) - peak_before < 30 * 1024
    assert "aliases expand to more than" in logs and "keeping its last good content" in logs
    started = time.monotonic()
    gateway.process.terminate()
    try:
        gateway.process.wait(5)
    except subprocess.TimeoutExpired:
        raise AssertionError("the gateway ignored SIGTERM for 5 s") from None
    assert time.monotonic() - started < 5


def test_tier_with_a_non_ascii_url_is_reported_and_the_others_keep_serving(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    folder = write_config(tmp_path / "config", upstreams, tiers=[{"name": n} for n in ["bad", *TIERS]])
    bad_url = upstreams["remote-b"].base_url.replace("/v1", "/模型/v1")  # passed validation, then 500ed
    (folder / "bad.yaml").write_text(yaml.safe_dump(tier_document("bad", bad_url), allow_unicode=True))
    gateway = gateway_factory(config=folder)
    for model in ("auto", "bad"):
        assert _chat(gateway, model).status_code in (200, 404)
    response = _chat(gateway)
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-a"
    logs = _wait_for_log(gateway, "bad.yaml", "spec.endpoint.url")
    assert "percent-encoded" in logs


def test_internationalised_host_is_reached_through_idna(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    # Full-width letters are an IDN that UTS #46 maps to "localhost": a host that is not Latin-1
    # and still names the simulator, so the request can only succeed if the host goes out encoded.
    idn_url = upstreams["remote-b"].base_url.replace("127.0.0.1", "ｌｏｃａｌｈｏｓｔ")
    gateway = gateway_factory(tier_specs={"remote-b": {"endpoint": {"url": idn_url, "timeoutSeconds": 10}}})
    before = stats(upstreams["remote-b"])["requests"]
    response = _chat(gateway, "remote-b")
    assert response.status_code == 200, response.text
    assert response.headers["x-tiergate-tier"] == "remote-b"
    assert stats(upstreams["remote-b"])["requests"] == before + 1


def test_broken_files_are_logged_by_line_and_field_never_by_content(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    folder = write_config(tmp_path / "config", upstreams)
    gateway = gateway_factory(config=folder)
    (folder / "syntax.yaml").write_text(f"apiVersion: tiergate.io/v1alpha1\nkind: ModelTier\napiKey: {SECRET}: x\n")
    wrong_type = tier_document("typed", "http://127.0.0.1:1/v1")
    wrong_type["spec"]["endpoint"]["timeoutSeconds"] = SECRET
    (folder / "typed.yaml").write_text(yaml.safe_dump(wrong_type))
    logs = _wait_for_log(gateway, "syntax.yaml", "typed.yaml")
    assert "line 3, column" in logs and "spec.endpoint.timeoutSeconds" in logs
    assert "SECRET" not in logs
    assert _chat(gateway).status_code == 200
