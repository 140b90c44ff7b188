"""Operator scale: 200 ModelTiers at once in the API emulator, timed to all children, with the operator's memory.

Run: `.venv/bin/python bench/operator_bench.py [--tiers 200]`.
The API emulator (tests/harness, a test double) runs in this process; the operator runs
as `python -m tiergate_operator operator` in a child process, as in production, so its
peak resident memory (VmHWM) is its own. The tiers are created straight into the
emulator's store in one burst; the figures are:

- time until every tier has its Deployment and Service, and until every tier has a status;
- API requests the operator sent for that, and how many of them were writes;
- writes while idle afterwards (an unchanged tier must cost none; expect 0);
- the operator's peak RSS.

Prints a table and writes bench/results/operator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the API emulator lives with the tests

from harness import DEFAULT_CRD_FOLDER, RecordedRequest, RunningEmulator, load_crd_documents  # noqa: E402

NAMESPACE = "default"
MANAGED = "app.kubernetes.io/managed-by=tiergate-operator"


class RequestLog:
    """Drains the emulator's request log into counts, so the log stays short.

    The emulator (kmock 0.8 underneath) matches every incoming request against its whole
    request log, so serving gets slower with every request it ever saw: after a few
    thousand requests, each one costs tens of milliseconds of the emulator's thread, and
    a benchmark of the operator would mostly measure that. Draining keeps the test
    double's cost flat. This reaches into the emulator's private request list: it is a
    benchmark workaround, not something tests should do (`--keep-request-log` disables it).
    """

    def __init__(self, emulator: RunningEmulator, *, drain: bool) -> None:
        self._emulator = emulator
        self._drain = drain
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="request-log-drain", daemon=True)
        self.requests = 0
        self.writes = 0

    def __enter__(self) -> RequestLog:
        self.take()
        self.requests = self.writes = 0
        if self._drain:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.take()

    def reset(self) -> None:
        self.take()
        self.requests = self.writes = 0

    def take(self) -> None:
        """Count the requests received since the last call (not watches, not events)."""
        if self._drain:
            raw = self._emulator._call(self._swap)  # on the emulator's thread, like every state change
            recorded = [RecordedRequest.from_kmock(r) for r in raw]
        else:
            recorded = self._emulator.requests
            self._emulator.clear_requests()
        counted = [r for r in recorded if r.verb != "watch" and r.resource != "events"]
        self.requests += len(counted)
        self.writes += sum(1 for r in counted if r.is_write)

    def _swap(self) -> list[Any]:
        log = self._emulator.api._requests
        taken = list(log)
        log.clear()
        return taken

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.take()


def tier(index: int) -> dict[str, Any]:
    """A small vLLM tier; every fourth one has a model cache, so claims are created too."""
    vllm: dict[str, Any] = {"gpu": {"count": 1}, "maxModelLen": 8192, "replicas": 1 + index % 3}
    if index % 4 == 0:
        vllm["modelCache"] = {"size": "20Gi"}
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": f"tier-{index:04d}", "namespace": NAMESPACE},
        "spec": {"model": f"org/model-{index}", "size": "1.5B", "vllm": vllm},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc (Linux only)")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(check: Any, timeout: float, interval: float = 0.05) -> float:
    """Poll until `check()` is true; return when that happened (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(interval)
    return time.monotonic()


def start_operator(emulator: RunningEmulator, liveness_port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **emulator.env,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "tiergate_operator", "operator", "--namespace", NAMESPACE, "--standalone"]
    command += ["--liveness", f"http://127.0.0.1:{liveness_port}/healthz", "--log-level", "WARNING"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def run(tiers: int, idle_seconds: float, timeout: float, *, drain: bool = True) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="tiergate-bench-") as workdir,
        RunningEmulator(crds=load_crd_documents(DEFAULT_CRD_FOLDER), workdir=Path(workdir)) as emulator,
    ):
        port = free_port()
        process = start_operator(emulator, port)
        try:
            wait_until(lambda: healthy(port) or process.poll() is not None, timeout=60)
            if process.poll() is not None:
                raise RuntimeError(f"the operator exited: {process.communicate()[0]}")
            baseline_rss = peak_rss_mib(process.pid)
            cpu_before = cpu_seconds(process.pid)
            log = RequestLog(emulator, drain=drain)
            log.__enter__()

            started = time.monotonic()
            for index in range(tiers):
                emulator.create(tier(index))
            created = time.monotonic()

            def children_done() -> bool:
                deployments = emulator.list_objects("deployments", namespace=NAMESPACE, label_selector=MANAGED)
                services = emulator.list_objects("services", namespace=NAMESPACE, label_selector=MANAGED)
                return len(deployments) >= tiers and len(services) >= tiers

            def statuses_done() -> bool:
                found = emulator.list_objects("modeltiers", namespace=NAMESPACE)
                return sum(1 for t in found if (t.get("status") or {}).get("observedGeneration")) >= tiers

            children_at = wait_until(children_done, timeout)
            status_at = wait_until(statuses_done, timeout)
            time.sleep(1.0)  # let the last watch events settle
            log.take()
            requests, writes = log.requests, log.writes
            cpu_burst = cpu_seconds(process.pid) - cpu_before

            log.reset()
            time.sleep(idle_seconds)
            log.__exit__()
            idle_requests, idle_writes = log.requests, log.writes
            peak = peak_rss_mib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                output = process.communicate(timeout=60)[0]
            except subprocess.TimeoutExpired:
                process.kill()
                output = process.communicate()[0]
        claims = len(emulator.list_objects("persistentvolumeclaims", namespace=NAMESPACE))
    return {
        "tiers": tiers,
        "create_burst_seconds": round(created - started, 3),
        "all_children_seconds": round(children_at - started, 3),
        "all_status_seconds": round(status_at - started, 3),
        "cache_claims": claims,
        "api_requests": requests,
        "api_writes": writes,
        "idle_seconds": idle_seconds,
        "idle_requests": idle_requests,
        "idle_writes": idle_writes,
        "request_log_drained": drain,
        "operator_cpu_seconds": round(cpu_burst, 2),
        "operator_rss_idle_mib": round(baseline_rss, 1),
        "operator_peak_rss_mib": round(peak, 1),
        "operator_exit_code": process.returncode,
        "operator_log_tail": output.strip().splitlines()[-5:],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", type=int, default=200, help="tiers to create at once (default: %(default)s)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to watch for writes afterwards")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument(
        "--keep-request-log", action="store_true", help="do not drain the emulator's request log (slow, see RequestLog)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "operator.json")
    args = parser.parse_args()

    result = run(args.tiers, args.idle, args.timeout, drain=not args.keep_request_log)
    rows = [
        ("tiers created at once", f"{result['tiers']} (burst took {result['create_burst_seconds']} s)"),
        ("all Deployments + Services", f"{result['all_children_seconds']} s"),
        ("all statuses written", f"{result['all_status_seconds']} s"),
        ("model-cache claims", str(result["cache_claims"])),
        ("API requests / writes", f"{result['api_requests']} / {result['api_writes']} (not counting watches, events)"),
        (
            f"requests / writes while idle ({result['idle_seconds']:g} s)",
            f"{result['idle_requests']} / {result['idle_writes']}",
        ),
        ("operator CPU for the burst", f"{result['operator_cpu_seconds']} s"),
        ("operator RSS idle / peak", f"{result['operator_rss_idle_mib']} / {result['operator_peak_rss_mib']} MiB"),
    ]
    width = max(len(label) for label, _ in rows)
    print("operator benchmark (API emulator, operator in a child process)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {args.output.relative_to(ROOT)}")
    return 0 if result["operator_exit_code"] == 0 and result["idle_writes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
