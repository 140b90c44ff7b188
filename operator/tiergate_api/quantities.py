"""Parsing of the string quantities in specs: model sizes and USD amounts.

The API keeps decimals out of specs as numbers (Kubernetes conventions: no floats), so
money is a validated string and becomes a `Decimal` here, never a float.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

# "1.5B", "350M", "1T": a positive number with at most three decimals and a unit.
SIZE_PATTERN: Final = r"^[0-9]{1,4}(\.[0-9]{1,3})?[MBT]$"
# "0.02", "100", "0": non-negative USD with at most 9 decimals (prices per million tokens
# of cheap models need several).
DECIMAL_PATTERN: Final = r"^[0-9]{1,9}(\.[0-9]{1,9})?$"

_SIZE_RE: Final = re.compile(SIZE_PATTERN)
_DECIMAL_RE: Final = re.compile(DECIMAL_PATTERN)
_UNIT: Final = {"M": 10**6, "B": 10**9, "T": 10**12}


def parse_size(size: str) -> int:
    """Return the parameter count of a size such as "1.5B" (1_500_000_000)."""
    if not _SIZE_RE.match(size):
        raise ValueError(f"size {size!r} must be a number with unit M, B or T, like 1.5B")
    return int(Decimal(size[:-1]) * _UNIT[size[-1]])


def billions(size: str) -> Decimal:
    """Return a size in billions of parameters, the unit the task bands use."""
    return Decimal(parse_size(size)) / Decimal(10**9)


def parse_usd(amount: str) -> Decimal:
    """Return a non-negative USD amount from its decimal string."""
    if not _DECIMAL_RE.match(amount):
        raise ValueError(f"amount {amount!r} must be a non-negative decimal string, like 0.02")
    return Decimal(amount)
