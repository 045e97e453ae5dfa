"""Tests for harness.verdict: PASS / FAIL / ERROR and their one-line messages."""

from __future__ import annotations

from pathlib import Path

from harness.delivery_order import DeliveryOrderCounts
from harness.generator_lag import GeneratorLag, LagWindow
from harness.hdr import LatencyHistogram
from harness.measurements import Measurements
from harness.scenario import Scenario, load_scenario
from harness.verdict import Verdict, evaluate_checks, judge

from .verdicts import samples

SLOW_MEMBER = Path(__file__).resolve().parent.parent / "scenarios" / "slow-member.toml"


def assert_judged(verdict: Verdict, status: str, exit_code: int, message: str) -> None:
    """``verdict`` has this status, exit code and one-line message."""
    assert (verdict.status, verdict.exit_code, verdict.message) == (status, exit_code, message)


def healthy_run() -> Measurements:
    every_delivery_owed_arrived = DeliveryOrderCounts(received=100, owed=100)
    every_delivery_owed_arrived.kinds = {"fast": {"owed": 100, "lost": 0}}
    return Measurements(
        samples=[
            *samples("join", "fast", 20.0, 100),
            *samples("deliver", "fast", 5.0, 100),
            *samples("join", "slow", 600.0, 10),
        ],
        run_started=1000.0,
        run_ended=1018.0,
        delivery_order=every_delivery_owed_arrived,
    )


def test_pass_when_every_check_holds(scenario: Scenario) -> None:
    verdict = judge(scenario, healthy_run())
    assert_judged(verdict, "PASS", 0, "PASS: all 5 checks hold")
    assert [result.status for result in verdict.check_results] == ["holding"] * 5


def test_fail_names_each_broken_check_and_its_value(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 812.0, 10)
    measurements.lock_reports += [{"kind": "wait", "lock": "rooms"}] * 7
    verdict = judge(scenario, measurements)
    assert_judged(
        verdict, "FAIL", 1,
        "FAIL: join[fast].p99 = 812 ms (limit < 250 ms); lock_reports = 7 (limit == 0)",
    )


def test_error_when_a_component_broke_even_if_checks_hold(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.component_errors.append("target exited with code -9 at 12.3s")
    verdict = judge(scenario, measurements)
    assert_judged(verdict, "ERROR", 2, "ERROR: target exited with code -9 at 12.3s")
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
    assert_judged(
        verdict, "ERROR", 2,
        "ERROR: too few samples to judge: join[fast].p99 has 3 samples, needs 20",
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


def test_a_run_that_never_started_is_an_error(scenario: Scenario) -> None:
    verdict = judge(scenario, Measurements(component_errors=["toxiproxy-server not found"]))
    assert (verdict.status, verdict.exit_code) == ("ERROR", 2)
    assert verdict.message == "ERROR: toxiproxy-server not found"
    assert verdict.to_dict() == {"status": "ERROR", "exit_code": 2,
                                 "message": "ERROR: toxiproxy-server not found",
                                 "component_errors": ["toxiproxy-server not found"]}


def test_evaluate_checks_matches_judge(scenario: Scenario) -> None:
    measurements = healthy_run()
    live = evaluate_checks(scenario.thresholds.checks, measurements, 20)
    assert live == judge(scenario, measurements).check_results


def lag_windows(process: str, stall_ms: float, seconds: int = 10) -> GeneratorLag:
    """``seconds`` one-second windows of a 10 ms probe waking 0.5 ms late, and one stall."""
    windows = []
    for second in range(seconds):
        histogram = LatencyHistogram()
        for _ in range(95):
            histogram.record_corrected_ms(0.5, 10)
        worst = 0.5
        if second == seconds // 2 and stall_ms:
            histogram.record_corrected_ms(stall_ms, 10)
            worst = stall_ms
        windows.append(LagWindow(process, 1000.0 + second, 1001.0 + second, worst,
                                 histogram.encode()))
    return GeneratorLag(tuple(windows))


def test_broken_check_with_an_overloaded_generator_is_an_error(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 812.0, 10)
    measurements.generator_lag = GeneratorLag(
        lag_windows("worker-0", 0).windows + lag_windows("worker-1", 2000).windows)
    verdict = judge(scenario, measurements)
    assert verdict.status == "ERROR" and verdict.exit_code == 2
    assert verdict.message.startswith(
        "ERROR: load generator overloaded (lag p99 1"), verdict.message
    assert "in Locust process worker-1, limit 100 ms); not blamed on the target: " \
           "join[fast].p99 = 812 ms (limit < 250 ms)" in verdict.message
    assert verdict.component_errors[0].startswith("load generator overloaded")


def test_lag_changes_nothing_without_a_broken_check(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.generator_lag = lag_windows("local", 2000)
    assert judge(scenario, measurements).status == "PASS"


def test_a_short_hiccup_under_the_limit_keeps_the_fail(scenario: Scenario) -> None:
    measurements = healthy_run()
    measurements.lock_reports.append({"kind": "wait", "lock": "rooms"})
    measurements.generator_lag = lag_windows("local", 60)
    lag = measurements.generator_lag.worst()
    assert lag is not None and lag.p99_ms < 100 and lag.max_ms >= 60
    assert judge(scenario, measurements).status == "FAIL"


def test_the_lag_limit_comes_from_the_scenario(tmp_path: Path) -> None:
    path = tmp_path / "lenient.toml"
    path.write_text('name = "lenient"\n[thresholds]\nmax_generator_lag = "5s"\n')
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 812.0, 10)
    measurements.generator_lag = lag_windows("local", 2000)
    assert judge(load_scenario(path), measurements).status == "FAIL"
    assert judge(load_scenario(SLOW_MEMBER), measurements).status == "ERROR"


def test_a_broken_check_read_from_the_target_stands_whatever_the_lag(
        scenario: Scenario) -> None:
    """A lock report comes from the server's own monitor: a lagging generator cannot have
    made it, so it stays a FAIL (with the generator's broken join listed next to it)."""
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 812.0, 10)
    measurements.lock_reports.append({"kind": "held_across_await", "lock": "rooms"})
    measurements.generator_lag = lag_windows("local", 2000)
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL", verdict.message
    broken = [result for result in verdict.check_results if result.status == "broken"]
    assert [(result.subject, result.at_target) for result in broken] == [
        ("join[fast].p99", False), ("lock_reports", True)]


def stall_not_reached() -> list[str]:
    """The stall check's lines for a member stopped before its queue plateaued (an early
    verdict ended the run 1 s into the stall)."""
    from harness.stall_check import check_stalls

    reports = [{"time": 1010.0, "member": "slow-0", "event": "stalled"},
               *({"time": 1010.0 + 0.2 * step, "member": "slow-0", "event": "queue",
                  "bytes": 30_000 * step, "peer_queued": 1000, "peer_buffer": 64_000}
                 for step in range(6))]
    return check_stalls(reports, [], fault_started=1009.9, lifted_at=None,
                        slow_members=1).errors


def test_a_fault_not_in_effect_turns_pass_into_error_but_a_fail_stays_fail(
        scenario: Scenario) -> None:
    not_reached = stall_not_reached()
    assert not_reached and not_reached[0].startswith("backpressure was never reached")
    healthy = healthy_run()
    healthy.fault_not_in_effect += not_reached
    verdict = judge(scenario, healthy)
    assert (verdict.status, verdict.message) == ("ERROR", "ERROR: " + not_reached[0])
    assert verdict.component_errors == (not_reached[0],)
    broken = healthy_run()
    broken.lock_reports += [{"kind": "wait", "lock": "rooms"}] * 2
    broken.stopped_early = "stopped early by 'lock_reports == 0', 0.9 s into the fault"
    broken.fault_not_in_effect += not_reached
    verdict = judge(scenario, broken)
    assert verdict.status == "FAIL", verdict.message
    assert verdict.message.startswith("FAIL: lock_reports = 2 (limit == 0) (stopped early")
    assert verdict.message.endswith("; also " + not_reached[0])
