"""Coordinated omission: corrected join latency on synthetic samples.

A member follows its real :class:`CycleSchedule` on a simulated clock against
a simulated server. When the server stalls, the raw latency only counts the
one join that was stuck, while the corrected latency also counts the joins
that were due during the stall; when it does not stall, the two agree.
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from harness.loadgen.schedule import CycleSchedule, first_broadcast_delay
from harness.measure.hdr import HistogramSet, LatencyHistogram
from harness.measure.measurements import Measurements
from harness.thresholds import parse_check


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(stall: tuple[float, float] | None, members: int = 5,
             duration_s: float = 120.0) -> tuple[LatencyHistogram, LatencyHistogram]:
    """Members join every 1 s (stay 0.8 s, away 0.2 s); a join takes 2 ms,
    or, inside ``stall``, until the stall ends."""
    raw, corrected = LatencyHistogram(), LatencyHistogram()
    for member in range(members):
        clock = Clock()
        clock.now = member * 0.13  # members are not in lockstep
        schedule = CycleSchedule(stay_s=0.8, away_s=0.2, clock=clock)
        while clock.now < duration_s:
            intended = schedule.next_join()
            clock.now = max(clock.now, intended)
            sent = clock.now
            if stall and stall[0] <= sent < stall[1]:
                clock.now = stall[1] + 0.002
            else:
                clock.now += 0.002
            raw.record_ms((clock.now - sent) * 1000)
            corrected.record_ms(CycleSchedule.corrected_ms(intended, clock.now))
            clock.now = max(clock.now, schedule.leave_at(intended))  # stay, then leave
            schedule.advance()
            clock.now += schedule.wait_s()
    return raw, corrected


def test_corrected_matches_raw_without_a_stall() -> None:
    raw, corrected = simulate(stall=None)
    assert raw.count == corrected.count > 500
    for percentile in (50, 90, 99, 99.9):
        assert abs(corrected.percentile_ms(percentile) - raw.percentile_ms(percentile)) < 0.1


def test_corrected_exceeds_raw_when_the_server_stalls() -> None:
    raw, corrected = simulate(stall=(30.0, 40.0))
    assert raw.count == corrected.count
    # Only 5 of ~600 raw samples (one per member) saw the stall: p99 misses it.
    assert raw.percentile_ms(99) < 10
    # Corrected, every join due during the 10 s stall carries its backlog.
    assert corrected.percentile_ms(99) > 5000
    # About 8% of joins were due during the stall: p95 sees them, p90 need not.
    assert corrected.percentile_ms(95) > 1000 > raw.percentile_ms(95)
    assert corrected.max_ms() >= raw.max_ms()


def test_verdict_uses_corrected_join_percentiles() -> None:
    raw, corrected = simulate(stall=(30.0, 40.0))
    histograms = HistogramSet()
    histograms.histograms[HistogramSet.key("join", "fast", "raw")] = raw
    histograms.histograms[HistogramSet.key("join", "fast", "corrected")] = corrected
    measurements = Measurements(histograms=histograms)
    result = parse_check("join[fast].p99 < 250ms").evaluate(measurements, min_samples=20)
    assert result.status == "broken"
    assert result.measured is not None and result.measured > 5000


def test_histograms_merge_exactly_across_processes() -> None:
    """Percentiles of merged histograms are those of all samples, not averages."""
    first, second = HistogramSet(), HistogramSet()
    for value in range(1, 101):
        first.record("join", "fast", "raw", float(value))
    for value in range(1000, 1100):
        second.record("join", "fast", "raw", float(value))
    master = HistogramSet()
    master.merge_encoded(first.encode())
    master.merge_encoded(second.encode())
    merged = master.get("join", "fast", "raw")
    assert merged is not None and merged.count == 200
    assert 99 <= merged.percentile_ms(50) <= 101  # the 100th of 200 values is 100 ms
    assert 1090 <= merged.percentile_ms(99) <= 1100


def test_histogram_percentiles_are_nearest_rank_like_raw_samples() -> None:
    histogram = LatencyHistogram()
    values = [float(v) for v in range(1, 100)]  # 99 values: p99 is rank 99, the maximum
    for value in values:
        histogram.record_ms(value)
    assert abs(histogram.percentile_ms(99) - 99.0) < 0.1
    assert abs(histogram.percentile_ms(50) - 50.0) < 0.1
    assert abs(histogram.percentile_ms(100) - 99.0) < 0.1


def test_random_phase_spreads_members_over_the_period() -> None:
    """Members started together must not join in lockstep (it would hide the bug)."""
    clock = Clock()
    first_joins = []
    for _ in range(20):
        schedule = CycleSchedule.random_phase(stay_s=0.8, away_s=0.2)
        schedule.clock = clock
        first_joins.append(schedule.next_join())
    assert all(0.0 <= join < 1.0 for join in first_joins)
    assert max(first_joins) - min(first_joins) > 0.3


def test_a_broadcast_interval_longer_than_the_stay_is_kept_on_average() -> None:
    assert first_broadcast_delay(0.2, 2.0) == 0.0  # the usual case: at once after the join
    assert first_broadcast_delay(5.0, 5.0) == 0.0
    assert first_broadcast_delay(1000.0, 20.0, draw=lambda low, high: high / 2) == 500.0
    # Over many stays a member speaks in about stay/interval of them: one per interval.
    rng = random.Random(7)
    spoke = sum(first_broadcast_delay(100.0, 20.0, draw=rng.uniform) < 20.0
                for _ in range(10_000))
    assert 1800 < spoke < 2200


@given(st.lists(st.floats(min_value=-1.0, max_value=5e6, allow_nan=False), max_size=200))
def test_record_ms_counts_as_hdrhistograms_own_record_value(values: list[float]) -> None:
    """record_ms does HdrHistogram's index arithmetic itself: the same counts, total, minimum
    and maximum (and so the same encoding) as the library's record_value, clamping included."""
    ours, theirs = LatencyHistogram(), LatencyHistogram()
    for value in values:
        ours.record_ms(value)
        theirs._histogram.record_value(min(max(int(round(value * 1000)), 1), 3600 * 1_000_000))
    assert list(ours._histogram.counts) == list(theirs._histogram.counts)
    assert (ours._histogram.total_count, ours._histogram.min_value, ours._histogram.max_value) \
        == (theirs._histogram.total_count, theirs._histogram.min_value,
            theirs._histogram.max_value)
    assert ours.encode() == theirs.encode()
