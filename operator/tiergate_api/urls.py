"""Endpoint URLs: which ones a tier may name, and the ASCII form that goes on the wire.

A URL is admitted when it is safe to send to: http or https, a host, an optional port from 1
to 65535, no credentials, no whitespace, control or invisible characters, and printable ASCII
after the host. The CRD says so with a `pattern` and a CEL rule, the models with
`check_endpoint_url`, which also refuses hosts IDNA cannot encode (no schema can check that).
A host may be an internationalised domain name (`bücher.example`); `ascii_url` encodes it
with IDNA (UTS #46, as browsers and httpx do) where the gateway turns a tier into its
routing view. Messages never quote the URL: a careless one may hold a credential.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import idna

from tiergate_api.schema_extras import cel

# Go's regexp (the API server), Rust's (pydantic) and Python's (the test emulator) must all read
# the pattern alike, so it uses hex escapes up to \xff only (Go has no \u escape). Unicode spaces
# and invisible characters above that are refused by a CEL rule, whose string literal decodes \u.
_HOST: Final = r"(\[[0-9A-Fa-f:.]+\]|([-A-Za-z0-9._]|[^\x00-\xa0\xad])+)"
_PORT: Final = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
ENDPOINT_URL_PATTERN: Final = rf"^https?://{_HOST}(:{_PORT})?([/?#][!-~]*)?$"
"""scheme://host[:port][/path]: no user:password@, nothing but printable ASCII after the host."""
_INVISIBLE: Final = r"[\u1680\u180e\u2000-\u206f\u3000\ufeff\ufff0-\uffff]"
"""Unicode spaces, joiners, direction marks and specials (as CEL and Python regex text alike)."""
ENDPOINT_URL_RULE: Final = cel(
    f"!self.matches('{_INVISIBLE}')", "must not contain Unicode spaces or invisible characters"
)
_INVISIBLE_RE: Final = re.compile(_INVISIBLE)
_ENDPOINT_URL_RE: Final = re.compile(ENDPOINT_URL_PATTERN)


def check_endpoint_url(url: str) -> str:
    """The URL unchanged when a tier may use it; ValueError saying what is wrong (never quoting it)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("must not contain spaces or control characters")
    if _INVISIBLE_RE.search(url):
        raise ValueError("must not contain Unicode spaces or invisible characters")
    authority, after = _split_authority(rest)
    if "@" in authority:
        raise ValueError("must not hold credentials (user:password@); put the key in a Secret (apiKeySecretRef)")
    if not after.isascii():
        raise ValueError("non-ASCII characters after the host must be percent-encoded (ü as %C3%BC)")
    ascii_url(url)
    if not _ENDPOINT_URL_RE.fullmatch(url):
        raise ValueError("must be scheme://host[:port][/path] with a DNS name or [IPv6] host and a port of 1-65535")
    return url


def ascii_url(url: str) -> str:
    """The URL with an internationalised host IDNA-encoded (xn--...); ValueError when it has no valid host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the host or port is not valid (ports are 1-65535)") from None
    host = parts.hostname
    if not host:
        raise ValueError("has no host")
    if host.isascii():
        return url
    try:
        encoded = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise ValueError("the host is not a valid internationalised domain name (IDNA)") from None
    netloc = encoded if port is None else f"{encoded}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _split_authority(rest: str) -> tuple[str, str]:
    """`host:port` and what follows it (path, query, fragment)."""
    for index, ch in enumerate(rest):
        if ch in "/?#":
            return rest[:index], rest[index:]
    return rest, ""
