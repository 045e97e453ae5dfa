"""Tests for harness.checker.verdict: PASS / FAIL / ERROR and their one-line messages."""

from __future__ import annotations

from pathlib import Path

from harness.checker.verdict import Verdict, evaluate_checks, judge
from harness.measure.delivery_order import DeliveryOrderCounts
from harness.measure.generator_lag import GeneratorLag, LagWindow
from harness.measure.hdr import LatencyHistogram
from harness.measure.measurements import Measurements, Sample
from harness.scenario import Scenario, load_scenario
from tests.verdicts import samples

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
    # A stalling server: few joins succeed (too few to judge), so errors pile up (broken).
    measurements = Measurements(
        samples=[
            *samples("join", "fast", 10_000.0, 50, ok=False),
            *samples("join", "fast", 30.0, 5),
            *samples("deliver", "fast", 5.0, 100),
        ]
    )
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL"
    assert verdict.message.startswith("FAIL: errors.ratio = 0.3226 (limit < 0.01)")
    assert "also too few samples to judge: join[fast].p99 has 5 samples, needs 20" in (
        verdict.message
    )


def failed(op: str, member_kind: str, count: int, error: str, start: float = 1000.0
           ) -> list[Sample]:
    """``count`` failed samples of ``op`` with this error, one a second from ``start``."""
    return [Sample(start + i, op, member_kind, 3.0, False, error) for i in range(count)]


HANDSHAKE_403 = ("connect ws://127.0.0.1:4000/chat?room=room-0&user=fast-{i}: Handshake status "
                 "403 Forbidden -+-+- {{'content-length': '9'}} -+-+- b'forbidden'")


def test_nothing_seen_is_an_error_naming_the_first_error_not_a_fail(scenario: Scenario) -> None:
    """Every join refused: errors.ratio = 1 would be a FAIL, but nothing was tested."""
    measurements = Measurements(
        samples=[Sample(1000.5 + i, "join", "fast", 2.0, False, HANDSHAKE_403.format(i=i))
                 for i in range(57)],
        run_started=1000.0, run_ended=1060.0, fault_started=1003.0)
    verdict = judge(scenario, measurements)
    assert verdict.status == "ERROR" and verdict.exit_code == 2
    assert verdict.message == (
        "ERROR: the target was not tested: every join[fast] got HTTP 403 (57 attempts, none "
        "succeeded); the first, at +0.5 s: connect ws://127.0.0.1:4000/chat?room=room-0&"
        "user=fast-0: Handshake status 403 Forbidden")
    assert [entry.check for entry in verdict.not_tested] == [
        "join[fast].p99 < 250ms", "errors.ratio < 0.01"]
    assert verdict.to_dict()["not_tested"][0]["causes"] == [{"cause": "got HTTP 403",
                                                             "count": 57}]
    # The errors check is broken on the same failures: still not a FAIL.
    assert {result.subject: result.status for result in verdict.check_results}[
        "errors.ratio"] == "broken"


def test_nothing_seen_counts_each_cause_and_outranks_an_early_stop(scenario: Scenario) -> None:
    measurements = Measurements(
        samples=[*failed("join", "fast", 30, "connection closed (WebSocketConnectionClosed"
                         "Exception: closed by server (code 3501: join refused))"),
                 *failed("join", "fast", 10, "no 'joined' reply within 15 s", start=1100.0),
                 *samples("connect", "fast", 4.0, 40)],
        run_started=1000.0, run_ended=1200.0,
        stopped_early="stopped early by 'errors.ratio < 0.01', 0.2 s into the fault")
    verdict = judge(scenario, measurements)
    assert verdict.message == (
        "ERROR: the target was not tested: no join[fast] succeeded in 40 attempts: 30 closed "
        "with code 3501 (join refused), 10 got no 'joined' reply within 15 s; the first, at "
        "+0.0 s: connection closed (WebSocketConnectionClosedException: closed by server "
        "(code 3501: join refused)) (stopped early by 'errors.ratio < 0.01', 0.2 s into the "
        "fault; not a FAIL: nothing got through)")
    # Connects succeeded, so the errors check saw something: only the join check is untested.
    assert [entry.check for entry in verdict.not_tested] == ["join[fast].p99 < 250ms"]


def test_one_success_is_enough_to_have_tested(scenario: Scenario) -> None:
    measurements = Measurements(samples=[*failed("join", "fast", 50, "timeout"),
                                         *samples("join", "fast", 20.0, 20),
                                         *samples("deliver", "fast", 5.0, 100)])
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL" and not verdict.not_tested, verdict.message


def test_a_check_broken_before_the_fault_says_so(scenario: Scenario) -> None:
    """Joins slow from the start: the fault did not cause it, and the message says so."""
    measurements = healthy_run()
    measurements.samples += samples("join", "fast", 900.0, 10)  # 1000 s .. 1009 s
    measurements.fault_started = 1030.0
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL"
    assert verdict.message == (
        "FAIL: join[fast].p99 = 900 ms (limit < 250 ms); already broken in the warm-up, before "
        "any fault: join[fast].p99 = 900 ms (limit < 250 ms)")
    # 30 + 10 before the fault, and the join that ended at 1030.0 was in flight as it began.
    assert [result.samples for result in verdict.broken_in_warmup] == [30 + 10 + 1]
    # Broken only once the fault was on: no such words.
    later = healthy_run()
    later.samples += [Sample(1050.0 + i, "join", "fast", 900.0, True) for i in range(10)]
    later.fault_started = 1030.0
    verdict = judge(scenario, later)
    assert verdict.status == "FAIL" and "warm-up" not in verdict.message, verdict.message
    assert verdict.broken_in_warmup == ()


def test_operations_in_flight_when_the_fault_began_count_in_the_warm_up(
        scenario: Scenario) -> None:
    """A room that froze in the warm-up: its joins ended (timed out, unfinished) only after the
    fault went on, but they were already waiting then, at least 900 ms."""
    measurements = healthy_run()  # 30 good joins, 1000 s .. 1029 s
    measurements.fault_started = 1030.0
    measurements.samples += [
        Sample(1034.1 + i, "join", "fast", 5000.0, False, "timeout: no 'joined' reply")
        for i in range(3)]  # began at 1029.1, 1030.1, 1031.1: the first was in flight at 1030
    measurements.samples.append(Sample(1040.0, "join", "fast", 10_800.0, False, "unfinished",
                                       unfinished=True))  # began 1029.2
    verdict = judge(scenario, measurements)
    assert verdict.status == "FAIL"
    assert "already broken in the warm-up, before any fault: join[fast].p99 = 900 ms" in (
        verdict.message), verdict.message
    # 30 before; in flight at 1030: that timeout (900 ms), the unfinished join (800 ms) and
    # the healthy join that ended at 1030.0 (20 ms).
    assert [result.samples for result in verdict.broken_in_warmup] == [30 + 3]


def test_lock_reports_before_the_fault_count_as_broken_in_the_warm_up(scenario: Scenario
                                                                     ) -> None:
    measurements = healthy_run()
    measurements.fault_started = 1010.0
    measurements.lock_reports += [{"kind": "wait", "lock": "rooms", "time": 1002.0},
                                  {"kind": "wait", "lock": "rooms", "time": 1015.0}]
    verdict = judge(scenario, measurements)
    assert verdict.message.endswith(
        "already broken in the warm-up, before any fault: lock_reports = 1 (limit == 0)")


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
                                 "component_errors": ["toxiproxy-server not found"],
                                 "not_tested": [], "broken_in_warmup": []}


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
    from harness.measure.stall_evidence import check_stalls

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


def test_a_sampled_series_high_before_the_fault_counts_as_broken_in_the_warm_up(
        tmp_path: Path) -> None:
    from harness.measure.series import SampledSeries

    path = tmp_path / "metric.toml"
    path.write_text('name = "metric"\n[thresholds]\nmin_samples = 3\nchecks = '
                    '["metric[pending].max < 100"]\n', encoding="utf-8")
    scenario = load_scenario(path)
    for before, during, said in ((150.0, 300.0, True), (10.0, 300.0, False)):
        sampled = SampledSeries()
        for step in range(10):
            sampled.add("metric[pending]", 1000.0 + step, before if step < 5 else during)
        measurements = Measurements(samples=samples("join", "fast", 5.0, 10), sampled=sampled,
                                    run_started=1000.0, run_ended=1010.0, fault_started=1005.0)
        verdict = judge(scenario, measurements)
        assert verdict.message.startswith("FAIL: metric[pending].max = 300 (limit < 100)")
        assert ("already broken in the warm-up, before any fault: metric[pending].max = 150 "
                "(limit < 100)" in verdict.message) is said, verdict.message
