"""Early verdicts (k6's abortOnFail): naive stops as soon as a check is
certainly broken once the fault is active; fixed runs its full length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_chaos_run import assert_nothing_left, harness, write_scenario

pytestmark = pytest.mark.integration

ABORT = 'abort_on_fail = ["lock_reports == 0", "join[fast].p99 < 250ms"]\n'


def scenario_with_abort(tmp_path: Path, fault: str = "15s") -> Path:
    path = write_scenario(tmp_path, fault=fault)
    path.write_text(path.read_text() + ABORT)
    return path


def test_naive_stops_early_with_fail_and_detection_time(tmp_path: Path) -> None:
    completed = harness("run", str(scenario_with_abort(tmp_path)), "--mode", "naive",
                        results=tmp_path)
    assert completed.returncode == 1, completed.stderr
    [result_file] = tmp_path.glob("**/result.json")
    result = json.loads(result_file.read_text())
    early = result["extra"]["early_verdict"]
    assert early["check"] in ("lock_reports == 0", "join[fast].p99 < 250ms")
    assert 0 <= early["after_fault_s"] < 10
    assert "stopped early" in result["verdict"]["message"]
    # Warm-up 3 s + detection + the 3 s evidence window: far shorter than the 19 s the
    # scenario would run.
    assert early["evidence_window_s"] == 3
    duration = result["timings"]["duration_s"]
    assert 3 + early["after_fault_s"] + 3 - 0.5 <= duration < 3 + 10 + 3
    # The evidence window kept measuring after the breach, fault still on: joins were
    # recorded after the detection, and the fault window lasts until the run stopped.
    series = result["series"]
    detected_s = early["detected_at"] - series["origin"]
    assert any(point[0] > detected_s + 1 for point in series["join"])
    assert series["fault_window_s"][1] >= detected_s + 2.5
    assert_nothing_left(result, tmp_path)


def test_fixed_runs_its_full_length(tmp_path: Path) -> None:
    # Long enough for a check to break if it were going to, short enough for the suite.
    completed = harness("run", str(scenario_with_abort(tmp_path, fault="6s")), "--mode", "fixed",
                        results=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [result_file] = tmp_path.glob("**/result.json")
    result = json.loads(result_file.read_text())
    assert "early_verdict" not in result["extra"]
    assert result["timings"]["duration_s"] >= 3 + 6 + 1 - 0.5


def test_early_verdict_can_be_switched_off(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, fault="4s")
    path.write_text(path.read_text() + ABORT)
    completed = harness("run", str(path), "--mode", "naive", "--no-early-verdict",
                        results=tmp_path)
    assert completed.returncode == 1
    [result_file] = tmp_path.glob("**/result.json")
    result = json.loads(result_file.read_text())
    assert "early_verdict" not in result["extra"]
    assert result["timings"]["duration_s"] >= 3 + 4 + 1 - 0.5
