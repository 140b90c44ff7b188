"""Local mode: tiers and policies from a folder of YAML files, reloaded when files change.

Each file keeps its last good documents: a file that stops parsing (bad YAML, an invalid
field) logs one clear error naming the file and field and contributes what it held
before, so a typo never takes routing down. The error says where (line, column, field),
never what: the line may hold a secret. A file over MAX_FILE_BYTES, or one whose YAML
exceeds the loader's bounds (an alias bomb), is refused the same way. API keys come from files
(<secrets dir>/<secret name>/<key>) or environment variables
(TIERGATE_SECRET_<NAME>_<KEY>, upper case, other characters as underscores).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from tiergate_api.modeltier import ModelTier
from tiergate_api.resources import InvalidResourceError, Resource, is_tiergate_document, parse_resource
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_api.yamlio import MAX_CHARACTERS, YamlLimitError, describe_yaml_error, load_documents
from tiergate_gateway.core.registry import Snapshot, build_snapshot
from tiergate_gateway.runtime.snapshots import SnapshotStore

log = logging.getLogger(__name__)

_SUFFIXES = {".yaml", ".yml", ".json"}
MAX_FILE_BYTES: Final = MAX_CHARACTERS


def secret_env_name(name: str, key: str) -> str:
    """The environment variable that can hold a Secret's key in local mode."""
    return "TIERGATE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{name}_{key}".upper())


class LocalSecrets:
    """Secret lookup for local mode: environment first, then files."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def __call__(self, _namespace: str, name: str, key: str) -> str | None:
        value = os.environ.get(secret_env_name(name, key))
        if value is not None:
            return value
        if self.folder is None:
            return None
        path = self.folder / name / key
        try:
            return path.read_text()
        except OSError:
            return None


@dataclass
class _FileState:
    mtime_ns: int
    size: int
    resources: list[Resource]


class ConfigDirSource:
    """Loads the folder into a SnapshotStore and keeps it current."""

    def __init__(self, folder: Path, store: SnapshotStore, secrets_dir: Path | None = None) -> None:
        self.folder = folder
        self.store = store
        self.secrets = LocalSecrets(secrets_dir if secrets_dir is not None else folder / "secrets")
        self._files: dict[Path, _FileState] = {}
        self._fingerprint: tuple[object, ...] | None = None

    def load(self) -> Snapshot:
        """Read changed files and publish a new snapshot when anything changed."""
        seen: dict[Path, tuple[int, int]] = {}
        for path in sorted(self._candidate_files()):
            try:
                stat = path.stat()
            except OSError:
                continue
            seen[path] = (stat.st_mtime_ns, stat.st_size)
        secrets_fingerprint = self._secrets_fingerprint()
        fingerprint = (tuple(sorted(seen.items())), secrets_fingerprint)
        if fingerprint == self._fingerprint and self.store.ready:
            return self.store.current
        for path, (mtime, size) in seen.items():
            previous = self._files.get(path)
            if previous is not None and (previous.mtime_ns, previous.size) == (mtime, size):
                continue
            resources = self._parse(path)
            if resources is None:  # broken: keep the last good documents of this file
                kept = previous.resources if previous else []
                self._files[path] = _FileState(mtime, size, kept)
            else:
                self._files[path] = _FileState(mtime, size, resources)
        for gone in set(self._files) - set(seen):
            del self._files[gone]
        self._fingerprint = fingerprint
        resources = [r for state in self._files.values() for r in state.resources]
        snapshot = build_snapshot(
            [r for r in resources if isinstance(r, ModelTier)],
            [r for r in resources if isinstance(r, RoutingPolicy)],
            self.secrets,
            version=self.store.next_version(),
            created_at=time.time(),
        )
        self.store.publish(snapshot)
        log.info(
            "loaded %d tiers and %d policies from %s", len(snapshot.tiers), len(snapshot.policies), self.folder
        )
        return snapshot

    async def watch(self, interval: float) -> None:
        """Reload forever; cancelled at shutdown."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.load)
            except Exception:  # a reload must never stop the watcher; the last snapshot stays
                log.exception("reloading %s failed; keeping the last good configuration", self.folder)

    def _candidate_files(self) -> list[Path]:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"config folder {self.folder} does not exist")
        secrets = self.secrets.folder.resolve() if self.secrets.folder else None
        found = []
        for path in self.folder.rglob("*"):
            if path.suffix not in _SUFFIXES or not path.is_file():
                continue
            if secrets is not None and secrets in path.resolve().parents:
                continue
            found.append(path)
        return found

    def _secrets_fingerprint(self) -> tuple[object, ...]:
        folder = self.secrets.folder
        env = tuple(sorted((k, hash(v)) for k, v in os.environ.items() if k.startswith("TIERGATE_SECRET_")))
        if folder is None or not folder.is_dir():
            return env
        files = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()))
        return (env, files)

    def _parse(self, path: Path) -> list[Resource] | None:
        """The file's resources, or None (after logging why) when it is broken."""
        try:
            documents = list(load_documents(_read(path)))
        except yaml.YAMLError as exc:
            log.error("%s: not valid YAML (%s); keeping its last good content", path, describe_yaml_error(exc))
            return None
        except UnicodeDecodeError as exc:
            log.error("%s: not valid UTF-8 (at byte %d); keeping its last good content", path, exc.start)
            return None
        except OSError as exc:
            log.error("%s: cannot be read (%s); keeping its last good content", path, _short(exc))
            return None
        resources: list[Resource] = []
        for index, document in enumerate(documents):
            if not isinstance(document, dict):
                log.error("%s: document %d is not a mapping; keeping the file's last good content", path, index + 1)
                return None
            if not is_tiergate_document(document):
                continue  # Secrets, ConfigMaps and other kinds may sit beside our resources
            try:
                resources.append(parse_resource(document))
            except InvalidResourceError as exc:
                log.error("%s: %s; keeping the file's last good content", path, exc)
                return None
        return resources


def _read(path: Path) -> str:
    """The file's text; never reads more than MAX_FILE_BYTES + 1 bytes, whatever the file holds."""
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlLimitError(problem=f"the file is larger than {MAX_FILE_BYTES} bytes")
    return data.decode("utf-8")


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
