"""Figures tests want shown at the end of every run (classifier accuracy), not only under -s."""

from __future__ import annotations

import pytest

SUMMARY_KEY = pytest.StashKey[list[str]]()
