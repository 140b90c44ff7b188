"""Config fuzzing: mutated and generated files never crash the folder source, and a broken file
keeps its last good content (so the gateway keeps routing with what it had)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources.config_dir import ConfigDirSource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "local"
TIERS_FILE = next(p for p in sorted(EXAMPLES.glob("*.yaml")) if "ModelTier" in p.read_text())

_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def _fresh(tmp_path: Path) -> tuple[Path, ConfigDirSource, int]:
    folder = tmp_path / "config"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(EXAMPLES, folder)
    source = ConfigDirSource(folder, SnapshotStore())
    return folder, source, len(source.load().tiers)


def _replace(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 4000), junk=st.binary(max_size=64), at=st.integers(0, 4000))
def test_mangled_bytes_never_crash_and_keep_the_last_good_tiers(tmp_path: Path, cut: int, junk: bytes, at: int) -> None:
    folder, source, tiers = _fresh(tmp_path)
    original = (folder / TIERS_FILE.name).read_bytes()
    mangled = original[:at] + junk + original[at:cut] if cut > at else original[:cut] + junk
    _replace(folder / TIERS_FILE.name, mangled)
    snapshot = source.load()  # never raises
    assert set(snapshot.policies)  # the policies of the other file are untouched
    try:
        list(yaml.safe_load_all(mangled.decode()))
    except (UnicodeDecodeError, yaml.YAMLError):  # a broken file: its last good content stays
        assert len(snapshot.tiers) == tiers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["spec", "metadata", "kind", "apiVersion"]), value=_VALUE)
def test_any_value_in_any_top_level_field_never_crashes(tmp_path: Path, field: str, value: object) -> None:
    folder, source, tiers = _fresh(tmp_path)
    documents = list(yaml.safe_load_all(TIERS_FILE.read_text()))
    documents[0][field] = value
    _replace(folder / TIERS_FILE.name, yaml.safe_dump_all(documents).encode())
    snapshot = source.load()
    assert len(snapshot.tiers) >= tiers - 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.lists(
        st.sampled_from(
            ["spec", "endpoint", "capabilities", "cost", "latency", "url", "tasks", "size", "model", "limits"]
        ),
        min_size=1,
        max_size=3,
    ),
    value=_VALUE,
)
def test_any_value_deep_in_a_tier_never_crashes(tmp_path: Path, path: list[str], value: object) -> None:
    folder, source, tiers = _fresh(tmp_path)
    documents = list(yaml.safe_load_all(TIERS_FILE.read_text()))
    node = documents[0]
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
    _replace(folder / TIERS_FILE.name, yaml.safe_dump_all(documents).encode())
    snapshot = source.load()
    assert len(snapshot.tiers) >= tiers - 1
