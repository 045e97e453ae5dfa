"""Tests for harness.thresholds: grammar, percentile math, every kind and operator."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.measure.measurements import Measurements, Sample, read_samples_file, read_samples_jsonl
from harness.thresholds import OPERATORS, THRESHOLD_KINDS, parse_check
from harness.thresholds.latency import nearest_rank_percentile


def sample(
    op: str = "join", member_kind: str = "fast", latency_ms: float = 10.0, ok: bool = True
) -> Sample:
    return Sample(
        time=1000.0,
        op=op,
        member_kind=member_kind,
        latency_ms=latency_ms,
        ok=ok,
        error=None if ok else "expected 'joined', got {\"type\": \"error\"}",
    )


def joins(latencies_ms: list[float], member_kind: str = "fast") -> list[Sample]:
    return [sample("join", member_kind, latency) for latency in latencies_ms]


def measure(check_text: str, measurements: Measurements, min_samples: int = 1) -> float | None:
    return parse_check(check_text).evaluate(measurements, min_samples).measured


# -- percentile math -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [(0, 1), (1, 1), (50, 50), (90, 90), (99, 99), (99.9, 100), (100, 100)],
)
def test_nearest_rank_on_one_to_hundred(percentile: float, expected: float) -> None:
    values = [float(value) for value in range(1, 101)]
    assert nearest_rank_percentile(values, percentile) == expected


def test_nearest_rank_uses_exact_arithmetic() -> None:
    # 0.7 * 10 is 7.000000000000001 in floats; nearest rank must still be the 7th value.
    assert nearest_rank_percentile(list(range(1, 11)), Fraction(70)) == 7
    assert nearest_rank_percentile(list(range(1, 11)), 70) == 7
    assert nearest_rank_percentile(list(range(1, 1001)), Fraction("99.9")) == 999


def test_nearest_rank_of_one_value_and_of_none() -> None:
    assert nearest_rank_percentile([42.0], 99) == 42.0
    with pytest.raises(ValueError):
        nearest_rank_percentile([], 50)
    with pytest.raises(ValueError):
        nearest_rank_percentile([1.0], 101)


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200),
    st.integers(min_value=0, max_value=100),
)
def test_nearest_rank_matches_its_definition(values: list[float], percentile: int) -> None:
    ordered = sorted(values)
    result = nearest_rank_percentile(ordered, percentile)
    # Smallest observed value with at least percentile% of the samples <= it.
    needed = percentile * len(ordered) / 100
    expected = min(v for v in ordered if sum(1 for x in ordered if x <= v) >= needed)
    assert result == expected


# -- latency kind ----------------------------------------------------------------------------


def test_latency_statistics_on_synthetic_samples() -> None:
    measurements = Measurements(samples=joins([float(ms) for ms in range(1, 101)]))
    assert measure("join[fast].p50 < 1s", measurements) == 50
    assert measure("join[fast].median < 1s", measurements) == 50
    assert measure("join[fast].p90 < 1s", measurements) == 90
    assert measure("join[fast].p95 < 1s", measurements) == 95
    assert measure("join[fast].p99 < 1s", measurements) == 99
    assert measure("join[fast].p999 < 1s", measurements) == 100
    assert measure("join[fast].p99.9 < 1s", measurements) == 100
    assert measure("join[fast].max < 1s", measurements) == 100
    assert measure("join[fast].min < 1s", measurements) == 1
    assert measure("join[fast].mean < 1s", measurements) == pytest.approx(50.5)


def test_operations_that_never_completed_count_at_their_age() -> None:
    from dataclasses import replace

    from harness.measure.inflight import Waiting

    measurements = Measurements(samples=[
        *joins([10.0] * 7, "fast"),
        replace(sample("join", "fast", 5000.0, ok=False), error="timeout: no 'joined' reply"),
        replace(sample("join", "fast", 6900.0, ok=False), error="unfinished", unfinished=True),
        sample("join", "fast", 9999.0, ok=False),  # an error reply: judged by errors.* only
    ], waiting=[Waiting("join", "fast", 7100.0), Waiting("join", "slow", 9000.0)])
    assert measure("join[fast].max < 1s", measurements) == 7100
    assert measure("join[fast].p50 < 1s", measurements) == 10
    assert parse_check("join[fast].p99 < 1s").evaluate(measurements, 10).samples == 10


def test_latency_filters_by_op_member_kind_and_success() -> None:
    measurements = Measurements(
        samples=[
            *joins([10.0, 20.0], "fast"),
            *joins([500.0], "slow"),
            sample("join", "fast", 9999.0, ok=False),
            sample("deliver", "fast", 7777.0),
        ]
    )
    assert measure("join[fast].max < 1s", measurements) == 20
    assert measure("join[slow].max < 1s", measurements) == 500
    assert measure("join[all].max < 1s", measurements) == 500
    assert measure("join.max < 1s", measurements) == 500
    assert measure("deliver.max < 1s", measurements) == 7777
    result = parse_check("join.max < 1s").evaluate(measurements, 1)
    assert result.samples == 3
    assert result.subject == "join[all].max"


def test_latency_limits_convert_to_milliseconds() -> None:
    assert parse_check("join.p99 < 1.5s").limit == 1500
    assert parse_check("join.p99 < 250ms").limit == 250
    assert parse_check("join.p99 < 500us").limit == 0.5
    assert parse_check("join.p99<250 ms").canonical == "join[all].p99 < 250 ms"


def test_latency_without_enough_samples_is_no_data_with_reason() -> None:
    result = parse_check("join[fast].p99 < 250ms").evaluate(
        Measurements(samples=joins([1.0, 2.0, 3.0])), min_samples=20
    )
    assert result.status == "no_data"
    assert result.measured is None
    assert result.samples == 3
    assert result.reason == "join[fast].p99 has 3 samples, needs 20"
    assert result.describe() == "join[fast].p99 has 3 samples, needs 20"


def test_failed_samples_do_not_count_towards_min_samples() -> None:
    measurements = Measurements(samples=[sample(ok=False)] * 30)
    assert parse_check("join.p50 < 1s").evaluate(measurements, 20).status == "no_data"


def test_zero_min_samples_with_no_samples_is_still_no_data() -> None:
    result = parse_check("join.p50 < 1s").evaluate(Measurements(), 0)
    assert result.status == "no_data"


# -- lock_reports kind -----------------------------------------------------------------------


def test_lock_reports_counts_all_or_one_kind() -> None:
    measurements = Measurements(
        samples=joins([1.0] * 20),
        lock_reports=[
            {"kind": "wait", "lock": "rooms", "duration_s": 0.5, "time": 1.0},
            {"kind": "wait", "lock": "rooms", "duration_s": 0.7, "time": 2.0},
            {"kind": "hold", "lock": "rooms", "duration_s": 0.9, "time": 3.0},
        ],
    )
    assert measure("lock_reports == 0", measurements, 20) == 3
    assert measure("lock_reports[wait] == 0", measurements, 20) == 2
    assert measure("lock_reports[hold] == 0", measurements, 20) == 1
    assert measure("lock_reports[order] == 0", measurements, 20) == 0


def test_lock_reports_need_the_run_to_have_produced_load() -> None:
    result = parse_check("lock_reports == 0").evaluate(
        Measurements(samples=joins([1.0] * 5)), min_samples=20
    )
    assert result.status == "no_data"
    assert result.reason == "lock_reports has 5 samples, needs 20"


# -- errors kind -----------------------------------------------------------------------------


def test_errors_ratio_and_count_over_all_ops() -> None:
    measurements = Measurements(
        samples=[
            *joins([1.0] * 6),
            sample("broadcast", "slow", ok=False),
            sample("deliver", "fast", ok=False),
            sample("leave", "fast"),
            sample("connect", "slow"),
        ],
        lock_reports=[{"kind": "wait"}] * 50,  # lock reports are not samples
    )
    assert measure("errors.ratio < 0.01", measurements) == pytest.approx(0.2)
    assert measure("errors.count == 0", measurements) == 2
    result = parse_check("errors.ratio < 0.01").evaluate(measurements, 1)
    assert result.samples == 10


def test_errors_ratio_accepts_percent() -> None:
    assert parse_check("errors.ratio < 1%").limit == pytest.approx(0.01)
    assert parse_check("errors.ratio < 0.01").limit == pytest.approx(0.01)


def test_errors_need_the_run_to_have_produced_load() -> None:
    assert parse_check("errors.ratio < 0.01").evaluate(Measurements(), 1).status == "no_data"


# -- operators -------------------------------------------------------------------------------


# Each operator on 8 lock reports: a limit it breaks, then a limit it holds.
LIMITS_BROKEN_HOLDING = {
    "<": ("8", "9"),
    "<=": ("7", "8"),
    ">": ("8", "7"),
    ">=": ("9", "8"),
    "==": ("7", "8"),
    "!=": ("8", "7"),
}


@pytest.mark.parametrize(
    ("operator", "limit", "status"),
    [
        (operator, limit, status)
        for operator, limits in LIMITS_BROKEN_HOLDING.items()
        for limit, status in zip(limits, ("broken", "holding"), strict=True)
    ],
)
def test_each_operator(operator: str, limit: str, status: str) -> None:
    measurements = Measurements(samples=joins([1.0]), lock_reports=[{"kind": "wait"}] * 8)
    result = parse_check(f"lock_reports {operator} {limit}").evaluate(measurements, 1)
    assert result.measured == 8
    assert result.status == status
    assert set(OPERATORS) == {"<", "<=", ">", ">=", "==", "!="}


# -- grammar errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("join[fast].p99", "expected SUBJECT OP VALUE[UNIT]"),
        ("lock_reports = 0", "use '==' for equality"),
        ("join.p99 < -1ms", "limits cannot be negative"),
        ("join.p99 =< 1ms", "expected SUBJECT OP VALUE[UNIT]"),
        ("jion[fast].p99 < 250ms", "did you mean 'join'?"),
        ("jion[fast].p99 < 250ms", "valid subjects: join|broadcast|deliver"),
        ("latency < 1ms", "lock_reports"),
        ("join[fats].p99 < 1ms", "did you mean 'fast'?"),
        ("join[fast] < 1ms", "needs a statistic"),
        ("join.p98x < 1ms", "unknown statistic 'p98x'"),
        ("join.avg < 1ms", "unknown statistic 'avg'"),
        ("join.p101 < 1ms", "outside 0..100"),
        ("join.p99 < 250", "needs a unit us, ms or s"),
        ("join.p99 < 5%", "needs a unit us, ms or s"),
        ("join.p99 < 250msec", "needs a unit us, ms or s"),
        ("lock_reports < 1ms", "plain number"),
        ("lock_reports[] == 0", "cannot read subject"),
        ("errors.rate < 0.1", "did you mean 'errors.ratio'?"),
        ("errors.ratio < 5", "fraction from 0 to 1"),
        ("errors.ratio < 500%", "above 100%"),
        ("errors.count < 1%", "plain number"),
    ],
)
def test_parse_errors_are_one_line_and_helpful(text: str, expected: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_check(text)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_registry_has_one_kind_per_module() -> None:
    assert set(THRESHOLD_KINDS) == {"latency", "lock_reports", "errors", "metric", "process",
                                    "order"}
    assert THRESHOLD_KINDS["latency"].matches("deliver[slow].p50")
    assert not THRESHOLD_KINDS["latency"].matches("lock_reports")
    assert THRESHOLD_KINDS["lock_reports"].matches("lock_reports[wait]")


# -- results ---------------------------------------------------------------------------------


def test_check_result_texts() -> None:
    measurements = Measurements(samples=joins([812.0] * 3))
    result = parse_check("join[fast].p99 < 250ms").evaluate(measurements, 1)
    assert result.status == "broken"
    assert result.limit_text() == "< 250 ms"
    assert result.measured_text() == "812 ms"
    assert result.describe() == "join[fast].p99 = 812 ms (limit < 250 ms)"
    assert result.to_dict()["status"] == "broken"
    assert result.check == "join[fast].p99 < 250ms"


def test_evaluate_is_pure() -> None:
    measurements = Measurements(samples=joins([3.0, 1.0, 2.0]))
    check = parse_check("join.p50 < 1s")
    first = check.evaluate(measurements, 1)
    assert check.evaluate(measurements, 1) == first
    assert [s.latency_ms for s in measurements.samples] == [3.0, 1.0, 2.0]
    assert not math.isnan(first.measured or 0)


# -- measurements input ----------------------------------------------------------------------


def test_read_samples_jsonl_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    good = sample("deliver", "slow", 12.5)
    lines = [
        json.dumps(good.to_dict()),
        "",
        "not json",
        json.dumps({**good.to_dict(), "op": "teleport"}),
        json.dumps({**good.to_dict(), "latency_ms": -1}),
        json.dumps({key: value for key, value in good.to_dict().items() if key != "ok"}),
        json.dumps({**good.to_dict(), "ok": False, "error": "timeout", "room": "r1"}),
        '{"time": 1, "op": "join"',  # half-written last line
    ]
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    samples_file = read_samples_file(path)
    assert samples_file.samples == [good, Sample(1000.0, "deliver", "slow", 12.5, False, "timeout")]
    assert [line.split(":")[0] for line in samples_file.malformed_lines] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 8",
    ]
    assert "missing field 'ok'" in samples_file.malformed_lines[3]
    assert read_samples_jsonl(path) == samples_file.samples


def test_measurements_duration() -> None:
    assert Measurements(run_started=10.0, run_ended=12.5).duration_s == 2.5
    assert Measurements(run_started=10.0).duration_s == 0.0


# -- relative to the run's own baseline --------------------------------------------------------


def timed_joins(start: float, latencies_ms: list[float], corrected: bool = False) -> list[Sample]:
    return [
        Sample(time=start + index * 0.1, op="join", member_kind="fast", latency_ms=latency,
               ok=True, corrected_ms=latency * 2 if corrected else None)
        for index, latency in enumerate(latencies_ms)
    ]


def test_baseline_is_the_warm_up_before_the_fault() -> None:
    warmup = timed_joins(100.0, [10.0] * 20)
    fault = timed_joins(110.0, [100.0] * 20)
    measurements = Measurements(samples=warmup + fault, fault_started=105.0)
    result = parse_check("join[fast].p99 < 3x baseline").evaluate(measurements, 20)
    assert result.status == "broken"
    assert result.measured == pytest.approx(10.0)  # 100 ms over a 10 ms baseline
    assert result.unit == "x"
    assert result.limit_text() == "< 3x baseline"
    assert "10x baseline (limit < 3x baseline; 100 ms against a warm-up baseline of 10 ms)" in (
        result.describe())
    calm = Measurements(samples=warmup + timed_joins(110.0, [12.0] * 20), fault_started=105.0)
    assert parse_check("join[fast].p99 < 3x baseline").evaluate(calm, 20).status == "holding"


def test_baseline_of_joins_uses_their_corrected_latency() -> None:
    # Corrected join latency is twice the raw one here; whole run and baseline must agree.
    warmup = timed_joins(100.0, [10.0] * 20, corrected=True)
    measurements = Measurements(samples=warmup + timed_joins(110.0, [10.0] * 20),
                                fault_started=105.0)
    assert measure("join[fast].p99 < 3x baseline", measurements, 20) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("warmup_joins", "fault_started", "reason"),
    [
        (5, 105.0, "baseline: join[fast].p99 has 5 samples, needs 20 in the warm-up"),
        (20, None, "no baseline: the faults never went on"),
    ],
)
def test_without_a_baseline_the_check_has_no_data(
    warmup_joins: int, fault_started: float | None, reason: str
) -> None:
    samples = timed_joins(100.0, [10.0] * warmup_joins) + timed_joins(110.0, [50.0] * 30)
    measurements = Measurements(samples=samples, fault_started=fault_started)
    result = parse_check("join[fast].p99 < 3x baseline").evaluate(measurements, 20)
    assert result.status == "no_data"
    assert reason in (result.reason or "")


@pytest.mark.parametrize(
    "text",
    ["lock_reports < 3x baseline", "errors.ratio < 2x baseline", "join.p99 < 3ms x baseline"],
)
def test_baseline_needs_a_latency_and_a_plain_factor(text: str) -> None:
    with pytest.raises(ValueError, match="baseline"):
        parse_check(text)
