"""The sensitivity sweep: the bisection with a fake runner, sweep.json and sweep.html, the
CLI's one-line errors, and one short real sweep (real Toxiproxy, server and Locust)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.__main__ import main
from harness.faults.bandwidth import BandwidthFault
from harness.faults.latency import LatencyFault
from harness.headless.sweep_runs import run_sweep
from harness.pages import rebuild
from harness.pages.sweep_page import SWEEP_PAGE_FILE_NAME
from harness.scenario import Scenario
from harness.sweep.axis import (
    AxisError,
    parse_latency_range,
    parse_resolution,
    scenario_at_latency,
)
from harness.sweep.document import SWEEP_FILE_NAME, load_sweep
from harness.sweep.points import RunRecord, record_from_document
from harness.sweep.search import Find, SweepInterrupted, SweepPlan, search
from harness.target import PROJECT_ROOT
from tests.scenario_text import with_timing
from tests.test_chaos_run import assert_nothing_left

SLOW_MEMBER = PROJECT_ROOT / "scenarios" / "slow-member.toml"


class FakeRunner:
    """Answers by latency: ``verdict_at(latency_ms, run_name)`` is the verdict of that run."""

    def __init__(self, verdict_at: Any) -> None:
        self.verdict_at = verdict_at
        self.calls: list[tuple[int, str]] = []

    def __call__(self, scenario: Scenario, name: str) -> RunRecord:
        [fault] = [f for f in scenario.faults if isinstance(f, LatencyFault)]
        assert fault.jitter_ms == 0
        self.calls.append((fault.latency_ms, name))
        verdict = self.verdict_at(fault.latency_ms, name)
        detection = 0.3 if verdict == "FAIL" else None
        return RunRecord(run=name, verdict=verdict, message=f"{verdict}: fake",
                         detection_s=detection, join_fast_p99_ms=fault.latency_ms * 1.1,
                         join_fast_p99_corrected_ms=fault.latency_ms * 2.0,
                         lock_reports={"wait": 3} if verdict == "FAIL" else {})

    @property
    def latencies(self) -> list[int]:
        """Latencies in the order their points were first run."""
        seen: list[int] = []
        for latency, _ in self.calls:
            if latency not in seen:
                seen.append(latency)
        return seen


def fails_from(threshold_ms: int) -> FakeRunner:
    return FakeRunner(lambda latency, name: "FAIL" if latency >= threshold_ms else "PASS")


def plan(scenario: Scenario, find: Find = "floor", low: int = 0, high: int = 1000,
         resolution: int = 5, repeat: int = 3, max_runs: int | None = None) -> SweepPlan:
    return SweepPlan(scenario, "naive" if find == "floor" else "fixed", find,
                     low, high, resolution, repeat, max_runs)


# The search.

def test_floor_is_the_smallest_grid_latency_that_fails_every_time(scenario: Scenario) -> None:
    runner = fails_from(333)
    result = search(plan(scenario), runner)
    assert result.answer is not None
    assert (result.answer.status, result.answer.value_ms) == ("found", 335)
    assert result.answer.bracket_ms == (330, 335)
    assert result.answer.exit_code == 0
    assert runner.latencies[:2] == [1000, 0]  # HI first, then LO, then bisection
    assert all(latency % 5 == 0 for latency in runner.latencies)
    assert len(runner.calls) == 3 * len(runner.latencies) <= 3 * result.plan.max_points
    assert [p.latency_ms for p in result.points] == sorted(runner.latencies)
    assert all(len(point.runs) == 3 for point in result.points)
    names = [name for _, name in runner.calls]
    assert names[:4] == ["1s-1", "1s-2", "1s-3", "0s-1"] and len(set(names)) == len(names)
    assert "floor: 335ms" in result.answer.message
    assert "monotonicity assumed" in result.answer.message


def test_floor_at_lo_and_no_floor_in_range(scenario: Scenario) -> None:
    at_lo = search(plan(scenario, low=100), fails_from(50))
    assert at_lo.answer is not None
    assert (at_lo.answer.status, at_lo.answer.value_ms) == ("found", 100)
    assert len(at_lo.points) == 2

    runner = fails_from(5000)
    none = search(plan(scenario), runner)
    assert none.answer is not None
    assert (none.answer.status, none.answer.value_ms, none.answer.exit_code) == (
        "none_in_range", None, 1)
    assert runner.latencies == [1000]  # HI did not fail 3/3: nothing else is run
    assert "no floor in range" in none.answer.message


def test_ceiling_is_the_largest_latency_that_passes_every_time(scenario: Scenario) -> None:
    runner = FakeRunner(lambda latency, name: "PASS" if latency <= 702 else "FAIL")
    result = search(plan(scenario, find="ceiling"), runner)
    assert result.answer is not None
    assert (result.answer.status, result.answer.value_ms) == ("found", 700)
    assert result.answer.bracket_ms == (700, 705)
    assert runner.latencies[:2] == [0, 1000]  # LO first, then HI

    whole = search(plan(scenario, find="ceiling"), fails_from(5000))
    assert whole.answer is not None
    assert (whole.answer.status, whole.answer.value_ms) == ("found", 1000)

    none = search(plan(scenario, find="ceiling"), fails_from(0))
    assert none.answer is not None and none.answer.status == "none_in_range"
    assert "no ceiling in range" in none.answer.message


def test_a_point_counts_only_when_all_n_runs_agree(scenario: Scenario) -> None:
    # At 500..599 one run in three passes: not 3/3 FAIL, so the floor is 600.
    def verdict(latency: int, name: str) -> str:
        if latency >= 600:
            return "FAIL"
        return "PASS" if latency < 500 or name.endswith("-2") else "FAIL"

    result = search(plan(scenario, resolution=100), FakeRunner(verdict))
    assert result.answer is not None and result.answer.value_ms == 600
    mixed = [point for point in result.points if point.outcome == "MIXED"]
    assert mixed and all(500 <= point.latency_ms < 600 for point in mixed)


def test_an_error_run_makes_the_point_inconclusive_and_stops(scenario: Scenario) -> None:
    def verdict(latency: int, name: str) -> str:
        if latency == 500 and name.endswith("-2"):
            return "ERROR"
        return "FAIL" if latency >= 333 else "PASS"

    runner = FakeRunner(verdict)
    result = search(plan(scenario), runner)
    assert result.answer is not None
    assert (result.answer.status, result.answer.exit_code) == ("inconclusive", 2)
    assert result.answer.bracket_ms == (0, 1000)
    assert runner.latencies == [1000, 0, 500]  # nothing after the ERROR point
    [error_point] = [p for p in result.points if p.latency_ms == 500]
    assert error_point.outcome == "ERROR"
    assert [run.verdict for run in error_point.runs] == ["FAIL", "ERROR"]  # no third run
    # The answer names what the ERROR run said (e.g. that the target was not tested).
    assert "inconclusive: a run ended in ERROR (FAIL/ERROR at 500ms: fake)" in (
        result.answer.message)


def test_max_runs_bounds_the_search(scenario: Scenario) -> None:
    runner = fails_from(333)
    result = search(plan(scenario, repeat=2, max_runs=7), runner)
    assert len(runner.calls) == 6  # a third point would need runs 7 and 8
    assert result.answer is not None
    assert (result.answer.status, result.answer.value_ms) == ("found", 500)
    assert "--max-runs 7 reached" in result.answer.message


def test_a_signal_ends_the_search_with_the_interrupted_run_kept(scenario: Scenario) -> None:
    def run_once(scenario: Scenario, name: str) -> RunRecord:
        record = RunRecord(run=name, verdict="ERROR", message="ERROR: interrupted by SIGINT")
        if name == "0s-1":
            raise SweepInterrupted(signal.SIGINT, record)
        return replace(record, verdict="FAIL", message="FAIL: fake")

    result = search(plan(scenario, repeat=2), run_once)
    assert result.answer is not None
    assert (result.answer.status, result.answer.exit_code) == ("interrupted", 130)
    assert [(p.latency_ms, len(p.runs)) for p in result.points] == [(0, 1), (1000, 2)]


# The axis and the records.

def test_the_point_scenario_sets_every_latency_fault_and_no_jitter(scenario: Scenario) -> None:
    with_bandwidth = replace(scenario, faults=(*scenario.faults, BandwidthFault(rate_kb_per_s=64)))
    point = scenario_at_latency(with_bandwidth, 250)
    assert point.faults[0] == LatencyFault(latency_ms=250, jitter_ms=0)
    assert point.faults[1] == with_bandwidth.faults[1]
    assert scenario.faults[0] == LatencyFault(latency_ms=500, jitter_ms=50)  # not changed


def test_ranges_and_resolutions() -> None:
    assert parse_latency_range("0ms..1s") == (0, 1000)
    assert parse_latency_range(" 250ms .. 1.5s") == (250, 1500)
    assert parse_resolution("5ms") == 5
    for bad in ("1s", "..1s", "0ms..", "1s..0ms", "1s..1s", "0..x", "0.5ms..1s", "-1s..1s"):
        with pytest.raises(AxisError):
            parse_latency_range(bad)
    with pytest.raises(AxisError):
        parse_resolution("0.2ms")


def test_a_record_reads_the_figures_of_result_json() -> None:
    document = {
        "mode": "naive", "scenario": {"name": "slow-member"}, "thresholds": [],
        "verdict": {"status": "FAIL", "message": "FAIL: lock_reports = 2 (limit == 0)"},
        "measured": {"latency_ms": {"join": {"fast": {"p99_ms": 612.5}}},
                     "latency_ms_corrected": {"join": {"fast": {"p99_ms": 1289.0}}}},
        "lock_reports": [{"kind": "wait"}, {"kind": "hold"}, {"kind": "wait"}],
        "timings": {"duration_s": 6.4},
        "extra": {"early_verdict": {"after_fault_s": 0.41}},
    }
    record = record_from_document("600ms-1", document)
    assert record == RunRecord(run="600ms-1", verdict="FAIL",
                               message="FAIL: lock_reports = 2 (limit == 0)", detection_s=0.41,
                               join_fast_p99_ms=612.5, join_fast_p99_corrected_ms=1289.0,
                               lock_reports={"hold": 1, "wait": 2}, duration_s=6.4)
    bare = record_from_document("0s-1", {"verdict": {"status": "PASS", "message": "PASS"},
                                         "mode": "fixed", "scenario": {"name": "s"},
                                         "thresholds": [], "measured": {"latency_ms": {}},
                                         "extra": {}})
    assert bare.detection_s is None and bare.join_fast_p99_corrected_ms is None
    assert record_from_document("x", {}).verdict == "ERROR"


# sweep.json and sweep.html.

def test_sweep_json_and_a_self_contained_sweep_html(scenario: Scenario, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sweep"
    result = run_sweep(plan(scenario, resolution=100), folder, fails_from(333))
    assert result.answer is not None and result.answer.value_ms == 400
    document = json.loads((folder / SWEEP_FILE_NAME).read_text())
    assert document["kind"] == "sweep" and document["mode"] == "naive"
    assert document["find"] == "floor" and document["target_verdict"] == "FAIL"
    assert document["range_ms"] == [0, 1000] and document["repeat"] == 3
    assert document["answer"]["status"] == "found" and document["answer"]["value_ms"] == 400
    assert document["scenario"]["join_fast_p99_limit_ms"] == 250
    point = next(p for p in document["points"] if p["latency_ms"] == 400)
    assert point["outcome"] == "FAIL" and point["verdicts"] == ["FAIL"] * 3
    assert point["runs"][0]["detection_s"] == 0.3
    assert point["runs"][0]["lock_reports"] == {"wait": 3}
    out = capsys.readouterr().out
    assert "floor: 400ms" in out and "outcome" in out

    page = (folder / SWEEP_PAGE_FILE_NAME).read_text()
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "url(" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert 'href="400ms-1/report.html"' in page
    assert "monotonicity" in page

    (folder / SWEEP_PAGE_FILE_NAME).unlink()
    assert rebuild(folder) == [folder / SWEEP_PAGE_FILE_NAME]
    assert load_sweep(folder).points[0].latency_ms == 0


def test_a_signal_between_runs_stops_the_sweep(scenario: Scenario, tmp_path: Path) -> None:
    runner = fails_from(333)

    def run_once(point_scenario: Scenario, name: str) -> RunRecord:
        record = runner(point_scenario, name)
        if len(runner.calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # outside any run's own handler
        return record

    result = run_sweep(plan(scenario), tmp_path, run_once)
    assert len(runner.calls) == 2
    assert result.answer is not None and result.answer.exit_code == 130
    assert json.loads((tmp_path / SWEEP_FILE_NAME).read_text())["answer"]["status"] == (
        "interrupted")


# The command line.

@pytest.mark.parametrize(("flags", "message"), [
    (["--latency", "1s..0ms"], "LO (1s) must be below HI (0s)"),
    (["--latency", "500ms"], "must be LO..HI"),
    (["--latency", "0ms..soon"], "invalid duration 'soon'"),
    (["--latency", "0ms..1s", "--resolution", "0ms"], "--resolution '0ms' must be at least 1ms"),
    (["--latency", "0ms..1s", "--repeat", "0"], "--repeat 0 must be 1 or more"),
    (["--latency", "0ms..1s", "--max-runs", "1"], "--max-runs 1 must allow both ends"),
])
def test_bad_sweep_input_gets_one_line_and_exit_2(
        flags: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(SLOW_MEMBER), "--results-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_scenario_without_latency_fault_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "calm.toml"
    path.write_text('name = "calm"\n')
    assert main(["sweep", str(path), "--latency", "0ms..1s"]) == 2
    err = capsys.readouterr().err
    assert "has no latency fault" in err and err.count("\n") == 1


# One real sweep.

@pytest.mark.integration
def test_a_real_sweep_of_naive_over_two_points(tmp_path: Path) -> None:
    """naive FAILs the slow-member checks at any latency (its room lock is held across the
    broadcast's sends, so even the warm-up has lock reports): HI (600 ms) FAILs, then LO
    (300 ms) FAILs, so the floor is LO. Anything else is a regression in naive or the sweep."""
    scenario_file = tmp_path / "short.toml"
    scenario_file.write_text(with_timing(SLOW_MEMBER, warmup="2s", fault="4s", cooldown="1s"))
    results = tmp_path / "results"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", str(scenario_file), "--mode", "naive",
         "--latency", "300ms..600ms", "--resolution", "300ms", "--repeat", "1",
         "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=150,
    )
    elapsed = time.monotonic() - started
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    [folder] = results.iterdir()
    document = json.loads((folder / SWEEP_FILE_NAME).read_text())
    answer = document["answer"]
    assert (answer["status"], answer["value_ms"]) == ("found", 300), output
    assert (folder / SWEEP_PAGE_FILE_NAME).is_file()
    points = sorted(document["points"], key=lambda p: p["order"])
    assert [(p["latency_ms"], p["outcome"]) for p in points] == [(600, "FAIL"), (300, "FAIL")]
    for point in points:
        [run] = point["runs"]
        result = json.loads((folder / run["run"] / "result.json").read_text())
        assert result["verdict"]["status"] == run["verdict"] == "FAIL"
        faults = result["scenario"]["faults"]
        assert [(f["latency_ms"], f["jitter_ms"]) for f in faults] == [(point["latency_ms"], 0)]
        assert_nothing_left(result, folder)
    assert answer["message"] in completed.stdout
    print(f"real sweep: {elapsed:.1f} s, floor {answer['value_ms']} ms")
