"""Running the real `kubectl` and reading what it prints (shared by the tests in this folder)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")


@dataclass(frozen=True)
class Kubectl:
    """`kubectl ARGS` against one emulator; returns the finished process (text output)."""

    binary: str
    kubeconfig: Path
    home: Path

    def __call__(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig),
               "LANG": "C.UTF-8"}
        result = subprocess.run([self.binary, "--cache-dir", str(self.home / "cache"), *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of `kubectl get` output by header, cut at the header's column offsets (cells may be empty)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [match.start() for match in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
    return [{name: line[start:end].strip() for name, start, end in zip(names, starts, [*starts[1:], None],
                                                                         strict=True)}
            for line in lines[1:]]


def sections(text: str) -> list[str]:
    """`kubectl get a,b` prints one table per resource, separated by a blank line."""
    return [block for block in re.split(r"\n\s*\n", text) if block.strip()]

