"""Serve the API emulator by hand: `PYTHONPATH=tests python -m harness --port 8001 --crds crds/`.

For poking at the test double with kubectl (or the operator) outside pytest:
it listens on loopback until Ctrl-C (or SIGTERM), with the given CRDs
installed, writes a kubeconfig for it, and prints one ready line
that tools can wait for, then how to point kubectl at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from harness.resources import load_crd_documents
from harness.runtime import RunningEmulator

READY = "kube-api-emulator ready"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=(
        "Serve TierGate's Kubernetes API emulator (a test double, not a cluster) on loopback."))
    parser.add_argument("--port", type=int, default=8001, help="port to listen on; 0 picks a free one (8001)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--crds", type=Path, action="append", default=[], metavar="PATH",
                        help="a CRD YAML file or folder to install; repeatable (none by default)")
    parser.add_argument("--kubeconfig", type=Path, default=None, metavar="DIR",
                        help="folder to write the kubeconfig into (a temporary folder by default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [str(path) for path in args.crds if not path.exists()]
    if missing:
        print(f"error: no such CRD file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    crds = load_crd_documents(*args.crds) if args.crds else []
    with tempfile.TemporaryDirectory(prefix="kube-emulator-") as scratch:
        workdir = args.kubeconfig or Path(scratch)
        emulator = RunningEmulator(crds=crds, host=args.host, port=args.port, workdir=workdir)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        emulator.start()
        try:
            names = ", ".join(crd["metadata"]["name"] for crd in crds) or "none"
            print(f"{READY} on {emulator.url} (CRDs: {names})", flush=True)
            print(f"  kubectl --server {emulator.url} get crds", flush=True)
            print(f"  export KUBECONFIG={emulator.kubeconfig_path}", flush=True)
            print("Ctrl-C stops it; objects live in memory only.", flush=True)
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
