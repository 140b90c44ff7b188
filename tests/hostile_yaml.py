"""Hostile YAML for tests: the "billion laughs" alias bomb, built one way for every suite."""

from __future__ import annotations


def alias_bomb(levels: int = 7, width: int = 9) -> str:
    """A ModelTier whose capabilities.tasks expands to width**(levels+1) entries through nested aliases
    (about 600 bytes for the defaults: 43 million tasks once expanded)."""
    lines = ["apiVersion: tiergate.io/v1alpha1", "kind: ModelTier", "metadata: {name: bomb}"]
    lines.append(f"l0: &l0 [{', '.join(['Chat'] * width)}]")
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    lines += ["spec:", "  model: m", "  size: 1B", "  endpoint: {url: 'http://127.0.0.1:1/v1'}"]
    lines += ["  capabilities:", f"    tasks: [{', '.join([f'*l{levels - 1}'] * width)}]"]
    return "\n".join(lines) + "\n"
