"""Shared fixtures: a real reference server process per test or module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.target import ReferenceTarget, TargetInfo


@pytest.fixture(scope="module")
def naive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetInfo]:
    """A naive-mode reference server shared by one test module."""
    target = ReferenceTarget("naive", Path(tmp_path_factory.mktemp("target")), send_timeout=2.0)
    with target as info:
        yield info
