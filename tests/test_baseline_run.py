"""``join[fast].p99 < Nx baseline`` on real runs: the warm-up of the same run is the baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_chaos_run import assert_nothing_left, harness, only_result, write_scenario

pytestmark = pytest.mark.integration

RELATIVE_CHECKS = 'checks = ["join[fast].p99 < 5x baseline"]\n'


def relative_scenario(tmp_path: Path, warmup: str) -> Path:
    path = write_scenario(tmp_path, fault="5s")
    text = path.read_text().replace('warmup = "3s"', f'warmup = "{warmup}"')
    start = text.index("checks = [")
    end = text.index("]\n", start) + 2
    path.write_text(text[:start] + RELATIVE_CHECKS + text[end:])
    return path


def test_naive_breaks_a_limit_relative_to_its_own_warm_up(tmp_path: Path) -> None:
    completed = harness("run", str(relative_scenario(tmp_path, "3s")), "--mode", "naive",
                        results=tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    [check] = result["thresholds"]
    assert check["status"] == "broken" and check["unit"] == "x"
    assert check["measured"] > 5
    assert "against a warm-up baseline of" in check["reason"]
    assert "x baseline" in result["verdict"]["message"]
    assert_nothing_left(result, tmp_path)


def test_without_enough_warm_up_samples_the_verdict_is_error(tmp_path: Path) -> None:
    completed = harness("run", str(relative_scenario(tmp_path, "0.3s")), "--mode", "fixed",
                        results=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    assert result["verdict"]["status"] == "ERROR"
    assert "baseline" in result["verdict"]["message"]
    assert "in the warm-up" in result["verdict"]["message"]
