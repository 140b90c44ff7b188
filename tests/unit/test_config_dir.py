"""Local mode's folder source: multi-document files, reloads, broken files and API keys."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from routing_fixtures import policy, tier
from tiergate_gateway.registry import SnapshotStore
from tiergate_gateway.sources.config_dir import ConfigDirSource, secret_env_name


def _write(path: Path, *documents: dict) -> None:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump_all(documents))
    stat = path.stat()  # make sure the change is seen even within one mtime tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_loads_multi_document_files_and_ignores_other_kinds(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    _write(tmp_path / "all.yaml", tier("a", "1B"), tier("b", "8B"), secret, policy(["a", "b"]))
    snapshot = ConfigDirSource(tmp_path, SnapshotStore()).load()
    assert set(snapshot.tiers) == {"default/a", "default/b"} and set(snapshot.policies) == {"auto"}


def test_reload_picks_up_changes(tmp_path: Path) -> None:
    store = SnapshotStore()
    source = ConfigDirSource(tmp_path, store)
    _write(tmp_path / "t.yaml", tier("a", "1B"))
    source.load()
    _write(tmp_path / "t.yaml", tier("a", "1B"), tier("b", "3B"))
    assert set(source.load().tiers) == {"default/a", "default/b"}
    (tmp_path / "t.yaml").unlink()
    assert source.load().tiers == {}


def test_broken_file_keeps_its_last_good_content_and_names_file_and_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SnapshotStore()
    source = ConfigDirSource(tmp_path, store)
    _write(tmp_path / "tiers.yaml", tier("a", "1B"))
    _write(tmp_path / "policy.yaml", policy(["a"]))
    first = source.load()
    broken = tier("a", "1B")
    broken["spec"]["size"] = "huge"
    _write(tmp_path / "tiers.yaml", broken)
    with caplog.at_level(logging.ERROR):
        second = source.load()
    assert second.tiers == first.tiers
    assert any("tiers.yaml" in r.message and "spec.size" in r.message for r in caplog.records)
    (tmp_path / "policy.yaml").write_text("spec: [unclosed")
    assert "auto" in source.load().policies


def test_api_keys_come_from_environment_or_files_never_from_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_key = tier("remote", "200B", local=False)
    with_key["spec"]["endpoint"]["apiKeySecretRef"] = {"name": "openai", "key": "api-key"}
    _write(tmp_path / "t.yaml", with_key)
    source = ConfigDirSource(tmp_path, SnapshotStore())
    assert "SecretNotFound" in (source.load().tiers["default/remote"].problem or "")
    (tmp_path / "secrets" / "openai").mkdir(parents=True)
    (tmp_path / "secrets" / "openai" / "api-key").write_text("from-file\n")
    view = source.load().tiers["default/remote"]
    assert view.problem is None and view.api_key is not None and view.api_key.get_secret_value() == "from-file"
    assert "from-file" not in repr(view)
    monkeypatch.setenv(secret_env_name("openai", "api-key"), "from-env")
    assert source.load().tiers["default/remote"].api_key.get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ConfigDirSource(tmp_path / "nope", SnapshotStore()).load()
