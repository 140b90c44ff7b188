"""YAML reading and writing in one style (block style, key order kept, long lines unwrapped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as kubectl and most Kubernetes YAML does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_yaml(document: Any) -> str:
    """One YAML document as text."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def load_documents(text: str) -> Iterator[Any]:
    """Every non-empty document of a (multi-document) YAML text."""
    for document in yaml.safe_load_all(text):
        if document is not None:
            yield document
