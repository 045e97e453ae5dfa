"""Shared fixtures: the slow-member scenario, a real reference server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.launched import ReferenceTarget
from harness.scenario import Scenario, load_scenario
from harness.target import PROJECT_ROOT, TargetInfo

SLOW_MEMBER = PROJECT_ROOT / "scenarios" / "slow-member.toml"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """scenarios/slow-member.toml, as `make chaos` runs it."""
    return load_scenario(SLOW_MEMBER)


@pytest.fixture(scope="module")
def naive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetInfo]:
    """A naive-mode reference server shared by one test module."""
    target = ReferenceTarget("naive", Path(tmp_path_factory.mktemp("target")), send_timeout=2.0)
    with target as info:
        yield info
