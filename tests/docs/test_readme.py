"""The README's commands, run as written: what a newcomer pastes first must work.

Every command block of README.md (```sh, bash, console or unlabelled) is either run here or
excluded below with a reason, so a new one fails `test_every_readme_command_block_is_run_or_excluded`
until someone decides.

- "Try it by hand (no cluster)" is run with `bash -euo pipefail`, its text unchanged, from a
  temporary folder that holds what it refers to: `.venv` (a link to the virtualenv running this
  test) and `examples` (a link to the repository's). Its first line, `make setup`, is the one
  substitution: a shell function `make` stands in for it and accepts only `setup`, as a no-op,
  because the virtualenv running this test already has everything (and a real `make setup`
  could reinstall into a shared virtualenv mid-run). It uses the README's own ports; when one of
  them is taken on this machine the test skips and says which.
- "TierGate" (`make demo`, `make test`) is not run: `make test` is this suite (it would run
  itself), and `make demo` is `tiergate demo`, which tests/gateway/test_demo.py runs.
- "Kind quickstart" (`make kind-e2e`, `make kind-down`) is not run: it needs Docker, kind,
  kubectl and Helm, and creates a cluster; tests/e2e is what it runs once the cluster is up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

RUN_HEADING = "Try it by hand (no cluster)"
EXCLUDED = {
    "TierGate": "`make test` is this suite; `make demo` is covered by tests/gateway/test_demo.py",
    "Kind quickstart": "needs Docker, kind, kubectl and Helm; tests/e2e runs against the cluster it makes",
}
MAKE_SETUP_STAND_IN = """\
make() {  # tests/docs/test_readme.py: `make setup` is a no-op here, the virtualenv is set up
  [[ "$*" == setup ]] || { echo "test_readme: only 'make setup' is stood in for, not 'make $*'" >&2; return 2; }
}
"""
RUN_SECONDS = 90
"""Bound on the whole block (it takes about two seconds; curl waits at most 30 s per server)."""
STOP_SECONDS = 10
"""How long the processes the block stopped get to exit before they count as left running."""


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown file and the heading it sits under."""

    heading: str
    language: str
    text: str


def readme_blocks(markdown: str) -> list[Block]:
    """Every fenced block, with the nearest heading above it."""
    blocks: list[Block] = []
    heading = ""
    fence: tuple[str, str] | None = None
    lines: list[str] = []
    for line in markdown.splitlines():
        if fence is None:
            if opened := re.match(r"^(```+)\s*(\S*)", line):
                fence, lines = (opened.group(1), opened.group(2)), []
            elif titled := re.match(r"^#{1,6}\s+(.*?)\s*$", line):
                heading = titled.group(1)
        elif line.strip() == fence[0]:
            blocks.append(Block(heading, fence[1], "\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line)
    assert fence is None, f"README.md: a ``` block under {heading!r} is never closed"
    return blocks


def block_under(heading: str) -> Block:
    """The one `sh` block under `heading`; fails (never skips) when the README no longer has it."""
    text = README.read_text()
    assert re.search(rf"^#+\s+{re.escape(heading)}\s*$", text, re.MULTILINE), (
        f"README.md has no heading {heading!r}: update RUN_HEADING in {Path(__file__).name} with the README"
    )
    found = [b for b in readme_blocks(text) if b.heading == heading and b.language == "sh"]
    assert len(found) == 1, f"README.md: expected one ```sh block under {heading!r}, found {len(found)}"
    return found[0]


def test_every_readme_command_block_is_run_or_excluded() -> None:
    headings = [b.heading for b in readme_blocks(README.read_text()) if b.language in ("sh", "bash", "console", "")]
    unknown = [h for h in headings if h != RUN_HEADING and h not in EXCLUDED]
    assert not unknown, f"README.md blocks under {unknown}: run them in {Path(__file__).name} or add to EXCLUDED"
    assert RUN_HEADING in headings
    assert set(EXCLUDED) <= set(headings), "EXCLUDED names a README section that has no command block any more"


def test_try_it_by_hand_block_runs_as_written(tmp_path: Path) -> None:
    block = block_under(RUN_HEADING)
    venv = Path(sys.prefix)
    if not (venv / "bin" / "tiergate").is_file():
        pytest.skip(f"{venv}/bin/tiergate is missing: run the tests from the virtualenv `make setup` creates")
    ports = sorted({int(p) for p in re.findall(r"--port[ =](\d+)", block.text)})
    assert ports, "the block starts nothing on a port: update this test with the README"
    if taken := [p for p in ports if _port_taken(p)]:
        pytest.skip(f"the README's ports {taken} are in use on this machine")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    script = tmp_path / "readme.sh"
    script.write_text(MAKE_SETUP_STAND_IN + block.text)

    # Output goes to files, not pipes: the background jobs inherit them, and a pipe would not end
    # while a job the block failed to stop still holds it.
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with _process_group(["bash", "-euo", "pipefail", str(script)], tmp_path, out_path, err_path) as process:
        try:
            process.wait(timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the README block ran over {RUN_SECONDS} s{_shown(out_path, err_path)}")
        left = _wait_until_gone(process.pid, STOP_SECONDS)
    out = out_path.read_text()
    shown = _shown(out_path, err_path)
    assert process.returncode == 0, f"the README block exited {process.returncode}{shown}"
    assert not left, f"the README block left processes running: {left}{shown}"
    answers = _http_responses(out)
    bodies = [json.loads(b) for b in re.findall(r"-d '(\{.*?\})'", block.text)]
    requests = block.text.count("/v1/chat/completions")
    assert requests >= 2, "the block should send at least two chat requests (a policy alias, the classifier)"
    assert len(bodies) == requests, "each chat request of the block should give its body as -d '{...}'"
    assert len(answers) == requests, f"expected {requests} responses (`curl -D -`), each on a line of its own{shown}"
    for (status, headers), body in zip(answers, bodies, strict=True):
        assert status == 200, shown
        assert headers.get("x-tiergate-policy") == body["model"], shown
        assert headers.get("x-tiergate-task"), shown  # the classifier named the task
        # The block's comments name the tier each request goes to; they must stay true.
        assert headers.get("x-tiergate-tier") and headers["x-tiergate-tier"] in block.text, shown
    assert "plan:" in out, f"`tiergate explain` printed no plan{shown}"


def _port_taken(port: int) -> bool:
    """Whether something answers on localhost:port (any address family) or holds 127.0.0.1:port."""
    for family, kind, proto, _, address in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(address) == 0:
                return True
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _shown(out_path: Path, err_path: Path) -> str:
    return f"\n--- stdout\n{out_path.read_text()}\n--- stderr\n{err_path.read_text()}"


@contextlib.contextmanager
def _process_group(command: list[str], cwd: Path, out_path: Path, err_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Popen in a new session; on the way out, SIGKILL whatever of its process group is still alive."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERGATE_")}  # as in a fresh user's shell
    bypass = "localhost,127.0.0.1,::1"  # a CI proxy must not see the requests to localhost
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, [env.get("no_proxy"), bypass]))
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, text=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if _alive_in_group(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.wait()


def _wait_until_gone(pgid: int, seconds: float) -> list[str]:
    """The processes of the group still alive after `seconds` (empty once all have exited)."""
    deadline = time.monotonic() + seconds
    while (left := _alive_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _alive_in_group(pgid: int) -> list[str]:
    """`pid command` of every live (not zombie) process whose process group is `pgid`."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group has any member at all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [f"process group {pgid}"]
    found = []
    for entry in _pids(proc):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # exited meanwhile
        state, _, group = stat.rpartition(")")[2].split()[:3]  # the command in () may hold spaces
        if int(group) == pgid and state != "Z":
            found.append(f"{entry.name} {cmdline}")
    return found


def _pids(proc: Path) -> Iterator[Path]:
    return (entry for entry in proc.iterdir() if entry.name.isdigit())


def _http_responses(output: str) -> list[tuple[int, dict[str, str]]]:
    """Status and headers of every response `curl -D -` printed, in order."""
    responses = []
    for match in re.finditer(r"^HTTP/[\d.]+ (\d{3})[^\n]*\n(.*?)\r?\n\r?\n", output, re.MULTILINE | re.DOTALL):
        headers = {}
        for line in match.group(2).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        responses.append((int(match.group(1)), headers))
    return responses


def test_readme_block_parser_finds_headings_and_languages() -> None:
    blocks = readme_blocks("# A\n```sh\nmake x\n```\n## B\ntext\n```python\nprint(1)\n```\n")
    assert blocks == [Block("A", "sh", "make x\n"), Block("B", "python", "print(1)\n")]
