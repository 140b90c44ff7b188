"""Gateway API keys: who may call, as which tenant, and which policies they may use.

Keys live in a YAML file (in Kubernetes, a Secret mounted as a file; the kubelet updates it
in place and the gateway reloads it):

    keys:
      - key: <token>          # or sha256: <hex digest of the token>
        tenant: team-a
        policies: ["auto"]    # aliases or tier names; "*" for all
        scopes: [admin]       # optional; admin may open the /ui status page

Only SHA-256 digests are kept in memory; a presented key is hashed and compared with
`hmac.compare_digest`, so neither the keys nor the timing of a comparison leak.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tiergate_api.yamlio import describe_yaml_error, load_documents
from tiergate_gateway.core.errors import AuthenticationError, PermissionDeniedError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tenant:
    """The caller behind a key."""

    name: str
    policies: frozenset[str]
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        """Whether the key may see the status page (every tenant's traffic and spend)."""
        return ADMIN_SCOPE in self.scopes

    def may_use(self, model: str) -> bool:
        """Whether the tenant may send requests for this alias or tier."""
        return "*" in self.policies or model in self.policies


_UNREADABLE = (-1, -1)
ADMIN_SCOPE = "admin"
SCOPES = frozenset({ADMIN_SCOPE})


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class KeyStore:
    """Keys by digest; `load` replaces them all at once, keeping the old set when the file is broken."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_digest: dict[bytes, Tenant] = {}
        self._stamp: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self._by_digest)

    def load(self) -> bool:
        """Read the file if it changed; True when the keys were (re)loaded."""
        try:
            stat = self.path.stat()
        except OSError as exc:
            if self._stamp != _UNREADABLE:  # say it once per outage, not every poll
                log.error(
                    "gateway keys file %s is unreadable (%s); keeping %d keys", self.path, exc.strerror, len(self)
                )
            self._stamp = _UNREADABLE
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            documents = list(load_documents(self.path.read_text()))  # bounded: size, nodes, aliases
            self._by_digest = parse_keys(documents[0] if documents else None)
        except yaml.YAMLError as exc:  # where, never what: the line may hold a key
            log.error(
                "gateway keys file %s is invalid (%s); keeping %d keys", self.path, describe_yaml_error(exc), len(self)
            )
            return False
        except (OSError, ValueError) as exc:
            log.error("gateway keys file %s is invalid (%s); keeping %d keys", self.path, _first_line(exc), len(self))
            return False
        log.info("loaded %d gateway keys", len(self._by_digest))
        return True

    def authenticate(self, authorization: str | None, *, basic: bool = False) -> Tenant:
        """The tenant of a `Bearer` key (or, with `basic`, HTTP Basic with the key as the password, which a
        browser asks for itself); 401 when absent or unknown."""
        if not authorization:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if basic and scheme.lower() == "basic":
            token = _basic_password(token)
        elif scheme.lower() != "bearer":
            token = ""
        if not token:
            raise AuthenticationError("the Authorization header must be 'Bearer <key>'")
        presented = _digest(token)
        tenant: Tenant | None = None
        for known, candidate in self._by_digest.items():  # no early exit: the same work for every key
            if hmac.compare_digest(presented, known):
                tenant = candidate
        if tenant is None:
            raise AuthenticationError("invalid API key")
        return tenant

    def authorize(self, tenant: Tenant, model: str) -> None:
        """403 when the tenant may not use the alias or tier."""
        if not tenant.may_use(model):
            raise PermissionDeniedError(f"this key may not use model {model!r}", param="model")


def _basic_password(credentials: str) -> str:
    """The password of HTTP Basic credentials ('' when they are not base64 of user:password)."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2].strip()


def parse_keys(document: Any) -> dict[bytes, Tenant]:
    """Digest -> tenant from the file's document; raises ValueError saying what is wrong."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("expected a mapping with a 'keys' list")
    found: dict[bytes, Tenant] = {}
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict):
            raise ValueError(f"keys[{index}] must be a mapping")
        tenant = entry.get("tenant")
        policies = entry.get("policies", ["*"])
        if not isinstance(tenant, str) or not tenant:
            raise ValueError(f"keys[{index}].tenant must be a non-empty string")
        if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
            raise ValueError(f"keys[{index}].policies must be a list of strings")
        scopes = entry.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s in SCOPES for s in scopes):
            raise ValueError(f"keys[{index}].scopes must be a list of: {', '.join(sorted(SCOPES))}")
        if isinstance(entry.get("key"), str) and entry["key"]:
            digest = _digest(entry["key"])
        elif isinstance(entry.get("sha256"), str):
            try:
                digest = bytes.fromhex(entry["sha256"])
            except ValueError:
                raise ValueError(f"keys[{index}].sha256 is not hex") from None
            if len(digest) != 32:
                raise ValueError(f"keys[{index}].sha256 must be 64 hex characters")
        else:
            raise ValueError(f"keys[{index}] needs 'key' or 'sha256'")
        found[digest] = Tenant(tenant, frozenset(policies), frozenset(scopes))
    return found


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
