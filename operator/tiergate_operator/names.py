"""Names and label values of what the operator creates for a tier (pure).

Children are named `<tier>-vllm` (and `<tier>-vllm-cache` for the model cache). A tier's
name is a DNS-1123 *subdomain* (up to 253 characters, dots allowed), but a Service name
must be a DNS-1035 *label* (63 characters, no dots, starting with a letter), and label
values stop at 63 characters. When the plain name does not fit, the name is shortened
and a hash of the full tier name is added, so two tiers never share a child name.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_NAME: Final = 63
HASH_LENGTH: Final = 8
WORKLOAD_SUFFIX: Final = "vllm"
CACHE_SUFFIX: Final = "vllm-cache"

_DNS_1035_LABEL: Final = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(text: str) -> str:
    """A stable 8-character hex digest of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def child_name(tier: str, suffix: str = WORKLOAD_SUFFIX) -> str:
    """`<tier>-<suffix>` when that is a valid DNS-1035 label, else a shortened name with a hash."""
    plain = f"{tier}-{suffix}"
    if len(plain) <= MAX_NAME and _DNS_1035_LABEL.match(plain):
        return plain
    # Dots become dashes, a leading digit gets a letter, and the hash keeps the result unique.
    base = re.sub(r"[^a-z0-9-]", "-", tier.lower())
    if not base[:1].isalpha():
        base = f"t{base}"
    budget = MAX_NAME - len(suffix) - HASH_LENGTH - 2
    base = base[:budget].rstrip("-")
    return f"{base}-{short_hash(tier)}-{suffix}"


def workload_name(tier: str) -> str:
    """Name of the tier's Deployment and Service."""
    return child_name(tier, WORKLOAD_SUFFIX)


def cache_claim_name(tier: str) -> str:
    """Name of the tier's model-cache PersistentVolumeClaim."""
    return child_name(tier, CACHE_SUFFIX)


def label_value(tier: str) -> str:
    """The tier's name as a label value: itself when it fits 63 characters, else shortened with a hash."""
    if len(tier) <= MAX_NAME and _LABEL_VALUE.match(tier):
        return tier
    return f"{tier[: MAX_NAME - HASH_LENGTH - 1].rstrip('-.')}-{short_hash(tier)}"
