"""Tests for harness.verdict: PASS / FAIL / ERROR and their one-line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.measurements import Measurements, Sample
from harness.scenario import Scenario, load_scenario
from harness.verdict import Verdict, evaluate_checks, judge

SLOW_MEMBER = Path(__file__).resolve().parent.parent / "scenarios" / "slow-member.toml"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(SLOW_MEMBER)


def samples(
    op: str, member_kind: str, latency_ms: float, count: int, ok: bool = True
) -> list[Sample]:
    return [Sample(1000.0 + i, op, member_kind, latency_ms, ok) for i in range(count)]


def healthy_run() -> Measurements:
    return Measurements(
        samples=[
            *samples("join", "fast", 20.0, 100),
            *samples("deliver", "fast", 5.0, 100),
            *samples("join", "slow", 600.0, 10),
        ],
        run_started=1000.0,
        run_ended=1018.0,
    )


def test_pass_when_every_check_holds(scenario: Scenario) -> None:
    verdict = judge(scenario, healthy_run())
    assert verdict.status == "PASS"
    assert verdict.exit_code == 0
    assert verdict.message == "PASS: all 4 checks hold"
    assert [result.status for result in verdict.check_results] == ["holding"] * 4


def test_fail_names_each_broken_check_and_its_value(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 812.0, 10)
    measurements.lock_reports += [{"kind": "wait", "lock": "rooms"}] * 7
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL"
    assert verdict.exit_code == 1
    assert verdict.message == (
        "FAIL: join[fast].p99 = 812 ms (limit < 250 ms); lock_reports = 7 (limit == 0)"
    )


def test_error_when_a_component_broke_even_if_checks_hold(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.component_errors.append("target exited with code -9 at 12.3s")
    verdict = judge(scenario, measurements)
    assert verdict.status == "ERROR"
    assert verdict.exit_code == 2
    assert verdict.message == "ERROR: target exited with code -9 at 12.3s"
    assert verdict.component_errors == ("target exited with code -9 at 12.3s",)


def test_component_errors_outrank_broken_checks(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.lock_reports.append({"kind": "hold"})
    measurements.component_errors += ["toxiproxy died", "locust\nexited 1"]
    verdict = judge(scenario, measurements)
    assert verdict.status == "ERROR"
    assert verdict.message == "ERROR: toxiproxy died; locust exited 1"


def test_error_when_too_few_samples(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.samples = [s for s in measurements.samples if s.op != "join"]
    measurements.samples += samples("join", "fast", 20.0, 3)
    verdict = judge(scenario, measurements)
    assert verdict.status == "ERROR"
    assert verdict.exit_code == 2
    assert verdict.message == (
        "ERROR: too few samples to judge: join[fast].p99 has 3 samples, needs 20"
    )


def test_broken_check_outranks_missing_data_and_mentions_it(scenario: Scenario) -> None:
    # A stalled server: joins never succeed (no data), so errors pile up (broken).
    measurements = Measurements(
        samples=[
            *samples("join", "fast", 10_000.0, 50, ok=False),
            *samples("deliver", "fast", 5.0, 100),
        ]
    )
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL"
    assert verdict.message.startswith("FAIL: errors.ratio = 0.3333 (limit < 0.01)")
    assert "also too few samples to judge: join[fast].p99 has 0 samples, needs 20" in (
        verdict.message
    )


def test_no_checks_is_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    path.write_text('name = "none"\n[thresholds]\nchecks = []\n', encoding="utf-8")
    verdict = judge(load_scenario(path), Measurements())
    assert verdict.status == "PASS"
    assert verdict.message == "PASS: no checks configured"


def test_messages_are_one_line(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.component_errors.append("line one\nline two")
    assert "\n" not in judge(scenario, measurements).message


def test_error_constructor_for_runs_that_never_started() -> None:
    verdict = Verdict.error("toxiproxy-server not found")
    assert (verdict.status, verdict.exit_code) == ("ERROR", 2)
    assert verdict.message == "ERROR: toxiproxy-server not found"
    assert verdict.check_results == ()
    assert verdict.to_dict()["exit_code"] == 2


def test_evaluate_checks_matches_judge(scenario: Scenario) -> None:
    measurements = healthy_run()
    live = evaluate_checks(scenario.thresholds.checks, measurements, 20)
    assert live == judge(scenario, measurements).check_results
