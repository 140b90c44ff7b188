"""The gateway keys file: a broken one keeps the last keys and never puts a key in the log."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tiergate_gateway.server.auth import KeyStore

SECRET = "tg-live-0123456789abcdefSECRET"


def _write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))  # a new mtime, so the store sees a change


def test_a_syntax_error_on_a_key_line_logs_where_not_what(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = tmp_path / "keys.yaml"
    _write(keys, "keys:\n  - key: first-key-000000\n    tenant: a\n", 1_000_000_000)
    store = KeyStore(keys)
    assert store.load() and len(store) == 1
    _write(keys, f"keys:\n  - key: {SECRET}: [\n    tenant: a\n", 2_000_000_000)
    with caplog.at_level(logging.ERROR):
        assert not store.load()
    assert len(store) == 1  # the last good keys stay
    assert "line 2" in caplog.text and SECRET not in caplog.text


def test_a_yaml_bomb_as_keys_file_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [" + ", ".join([f"*{chr(96 + level)}"] * 10) + "]")
    keys = tmp_path / "keys.yaml"
    _write(keys, "\n".join(lines) + "\nkeys: [*i]\n", 1_000_000_000)
    with caplog.at_level(logging.ERROR):
        assert not KeyStore(keys).load()
    assert "invalid" in caplog.text
