"""A helper process that runs helm-sdkpy actions for the chart tests: one JSON request per line.

Why a process of its own: the Go runtime inside helm-sdkpy reads the environment from the
process's start-up block, so Helm's settings (`HELM_DRIVER=memory`, private `HELM_*_HOME`
folders) must be there before the process starts, not set later from Python. It also keeps
the Go runtime out of pytest's process. The worker keeps one `helm_sdkpy.Configuration` per
kubeconfig, so an upgrade sees the release that an earlier install recorded (memory driver).

Requests: {"action": "lint", "chart": PATH} | {"action": "install" | "upgrade", "chart": PATH,
"release": NAME, "namespace": NS, "kubeconfig": PATH, "values": {...}}.
Replies: {"ok": true, "result": {...}} or {"ok": false, "error": TEXT, "type": CLASS}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import helm_sdkpy


def handle(request: dict[str, Any], configs: dict[tuple[str, str], helm_sdkpy.Configuration]) -> Any:
    action = request["action"]
    if action == "lint":
        return asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(request["chart"]))
    key = (request["kubeconfig"], request["namespace"])
    if key not in configs:
        configs[key] = helm_sdkpy.Configuration(namespace=request["namespace"], kubeconfig=request["kubeconfig"])
    config = configs[key]
    values = request.get("values") or {}
    if action == "install":
        run = helm_sdkpy.Install(config).run(
            request["release"], request["chart"], values=values, wait=False, create_namespace=True
        )
    elif action == "upgrade":
        run = helm_sdkpy.Upgrade(config).run(request["release"], request["chart"], values=values, wait=False)
    else:
        raise ValueError(f"unknown action {action!r}")
    return asyncio.run(run)


def main() -> int:
    # Replies go to the original stdout; anything Helm prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    configs: dict[tuple[str, str], helm_sdkpy.Configuration] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"ok": True, "result": handle(request, configs)}
        except (helm_sdkpy.HelmError, ValueError) as exc:
            reply = {"ok": False, "error": str(exc), "type": type(exc).__name__}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
