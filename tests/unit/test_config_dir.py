"""Local mode's folder source: multi-document files, reloads, broken and hostile files, and API keys."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hostile_yaml import alias_bomb
from routing_fixtures import policy, tier
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources.config_dir import MAX_FILE_BYTES, ConfigDirSource, secret_env_name


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


SECRET = "sk-live-0123456789abcdefSECRET"

_LOAD_AND_MEASURE = """
import json, resource, sys, time
from pathlib import Path
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources.config_dir import ConfigDirSource
source = ConfigDirSource(Path(sys.argv[1]), SnapshotStore())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
snapshot = source.load()
seconds = time.perf_counter() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "grown_kib": grown, "tiers": sorted(snapshot.tiers)}))
"""


def test_alias_bomb_is_refused_within_a_second_and_a_few_megabytes(tmp_path: Path) -> None:
    _write(tmp_path / "good.yaml", tier("a", "1B"))
    (tmp_path / "bomb.yaml").write_text(alias_bomb())  # ~600 bytes; 43 million tasks once expanded
    # A fresh process, so its peak RSS shows what this load cost (the test process's peak is anyone's).
    try:
        result = subprocess.run(
            [sys.executable, "-c", _LOAD_AND_MEASURE, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("loading a folder with an alias bomb took over 60 s")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["tiers"] == ["default/a"]
    assert measured["seconds"] < 1.0, measured
    assert measured["grown_kib"] < 20 * 1024, measured
    assert "bomb.yaml" in result.stderr and "aliases expand" in result.stderr


def test_oversized_file_is_refused_without_reading_it_all(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path / "good.yaml", tier("a", "1B"))
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with caplog.at_level(logging.ERROR):
        snapshot = ConfigDirSource(tmp_path, SnapshotStore()).load()
    assert set(snapshot.tiers) == {"default/a"}
    assert any("huge.yaml" in r.message and "larger than" in r.message for r in caplog.records)


def test_syntax_error_is_logged_with_file_line_and_column_never_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = ConfigDirSource(tmp_path, SnapshotStore())
    _write(tmp_path / "tiers.yaml", tier("a", "1B"))
    first = source.load()
    (tmp_path / "tiers.yaml").write_text(f"apiVersion: tiergate.io/v1alpha1\nkind: ModelTier\napiKey: {SECRET}: x\n")
    with caplog.at_level(logging.ERROR):
        assert source.load().tiers == first.tiers
    (record,) = [r for r in caplog.records if "tiers.yaml" in r.getMessage()]
    assert "line 3, column" in record.getMessage() and "mapping values are not allowed" in record.getMessage()
    assert "SECRET" not in caplog.text


def test_invalid_field_is_logged_by_name_never_by_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wrong_type = tier("a", "1B")
    wrong_type["spec"]["endpoint"]["timeoutSeconds"] = SECRET
    with_credentials = tier("b", "1B")
    with_credentials["spec"]["endpoint"]["url"] = f"https://user:{SECRET}@api.example.com/v1"
    _write(tmp_path / "a.yaml", wrong_type)
    _write(tmp_path / "b.yaml", with_credentials)
    with caplog.at_level(logging.ERROR):
        assert ConfigDirSource(tmp_path, SnapshotStore()).load().tiers == {}
    messages = [r.getMessage() for r in caplog.records]
    assert any("a.yaml" in m and "spec.endpoint.timeoutSeconds" in m for m in messages), messages
    assert any("b.yaml" in m and "spec.endpoint.url" in m and "credentials" in m for m in messages), messages
    assert "SECRET" not in caplog.text


def test_tier_with_a_bad_url_is_refused_and_the_others_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tier("b", "1B")
    bad["spec"]["endpoint"]["url"] = "http://127.0.0.1:1/bücher/v1"  # not Latin-1 safe on the wire: refused
    _write(tmp_path / "good.yaml", tier("a", "1B"), policy(["a", "b"]))
    _write(tmp_path / "bad.yaml", bad)
    with caplog.at_level(logging.ERROR):
        snapshot = ConfigDirSource(tmp_path, SnapshotStore()).load()
    assert set(snapshot.tiers) == {"default/a"} and snapshot.policies["auto"].missing_tiers == ("b",)
    assert any("bad.yaml" in r.message and "spec.endpoint.url" in r.message for r in caplog.records)


def test_internationalised_host_is_sent_idna_encoded(tmp_path: Path) -> None:
    idn = tier("a", "1B")
    idn["spec"]["endpoint"]["url"] = "http://Bücher.example:8000/v1/"
    _write(tmp_path / "t.yaml", idn)
    view = ConfigDirSource(tmp_path, SnapshotStore()).load().tiers["default/a"]
    assert view.url == "http://xn--bcher-kva.example:8000/v1" and view.problem is None


def test_a_kind_that_is_not_a_string_is_skipped_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text("apiVersion: tiergate.io/v1alpha1\nkind: [ModelTier]\n")
    _write(tmp_path / "good.yaml", tier("a", "1B"))
    assert set(ConfigDirSource(tmp_path, SnapshotStore()).load().tiers) == {"default/a"}
