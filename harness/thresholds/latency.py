"""Threshold kind ``latency``: a statistic of the latency of one operation.

Subjects: ``OP[MEMBERS].STAT`` where

* ``OP`` is ``join``, ``broadcast``, ``deliver``, ``leave`` or ``connect``;
* ``MEMBERS`` is ``fast``, ``slow`` or ``all``; ``[MEMBERS]`` may be omitted and means ``all``;
* ``STAT`` is ``pN`` (percentile N, 0 <= N <= 100, e.g. ``p50``, ``p99``, ``p99.9``; the
  conventional ``p999`` and ``p9999`` mean 99.9 and 99.99), ``median`` (= ``p50``), ``min``
  (= ``p0``), ``max`` (= ``p100``) or ``mean``.

Values are milliseconds; limits need a unit (``us``, ``ms`` or ``s``). Successful samples
(``ok``) count, and so does every operation that never completed, as a sample of its age (a
lower bound): still in flight while the run goes on, failed with ``timeout`` after
``[load] op_timeout``, ``unfinished`` at its end
(:meth:`~harness.measure.measurements.Measurements.lower_bounds_ms`). Other failures are judged by
``errors.*``.

Percentiles use the nearest-rank method: ``pN`` is the smallest observed latency such that at
least N% of the samples are <= it, i.e. the sample at 1-based rank ``ceil(N/100 * n)`` (rank 1
for N = 0) in ascending order. The result is always a latency that was actually observed, and
computed with exact fractions so ``p70`` of 10 samples is the 7th, never the 8th.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from harness.durations import SECONDS_PER_UNIT
from harness.measure.hdr import LatencyHistogram
from harness.measure.measurements import MEMBER_KINDS, OPS, Measurements, Sample
from harness.thresholds.base import Measured, ThresholdKind, too_few_samples

MEMBER_SELECTORS: tuple[str, ...] = ("fast", "slow", "all")
NAMED_STATISTICS: dict[str, Fraction | None] = {
    "median": Fraction(50),
    "min": Fraction(0),
    "max": Fraction(100),
    "mean": None,
}
"""Statistics with a name; None marks the arithmetic mean (not a percentile)."""

STATISTICS_HELP = "p50, p90, p95, p99, p999 (any pN with 0 <= N <= 100), median, min, max, mean"
LIMIT_UNITS: tuple[str, ...] = ("us", "ms", "s")

_SUBJECT_PATTERN = re.compile(
    r"^(?P<op>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<members>[^\]]*)\])?(?:\.(?P<statistic>.*))?$"
)
_PERCENTILE_PATTERN = re.compile(r"^p(?P<number>\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class LatencyMetric:
    """A latency statistic of one operation for one kind of member.

    Attributes:
        op: Operation, one of :data:`~harness.measure.measurements.OPS`.
        members: ``"fast"``, ``"slow"`` or ``"all"``.
        statistic: Statistic as written, lower-cased (``"p99"``, ``"median"``, ``"mean"``).
        percentile: The percentile the statistic denotes, None for ``mean``.
    """

    op: str
    members: str
    statistic: str
    percentile: Fraction | None

    @property
    def subject(self) -> str:
        """``op[members].statistic``, always with the members bracket."""
        return f"{self.op}[{self.members}].{self.statistic}"

    unit: ClassVar[str] = "ms"
    """Always ``"ms"``."""

    @property
    def observed(self) -> str:
        """``op[members]``: the operations this metric is measured on."""
        return f"{self.op}[{self.members}]"

    def observes(self, sample: Sample) -> bool:
        """True for every sample of this op by this kind of member, failed ones too."""
        return sample.op == self.op and self.members in ("all", sample.member_kind)

    def limit_from(self, number: float, unit: str | None) -> float:
        """The limit in milliseconds; a unit (us, ms or s) is required."""
        if unit not in LIMIT_UNITS:
            written = "no unit" if unit is None else f"unit {unit!r}"
            raise ValueError(
                f"{self.subject} is a latency; its limit needs a unit us, ms or s "
                f"(got {written}), e.g. '{self.subject} < 250ms'"
            )
        return number * SECONDS_PER_UNIT[unit] / SECONDS_PER_UNIT["ms"]

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """The statistic over the latencies of successful samples of this op and member kind.

        Where the run recorded latency corrected for coordinated omission (join
        latency, from each join's intended start), the statistic is taken from that
        histogram instead of the raw samples.
        """
        kinds = MEMBER_KINDS if self.members == "all" else (self.members,)
        waited_ms = measurements.lower_bounds_ms(self.op, kinds)
        corrected = measurements.corrected_latency(self.op, kinds)
        if corrected is not None:
            if waited_ms:
                copy = LatencyHistogram()
                copy.merge(corrected)
                for age_ms in waited_ms:
                    copy.record_ms(age_ms)
                corrected = copy
            return self._measure_histogram(corrected, min_samples)
        latencies_ms = sorted(
            ok_latencies_ms(measurements, self.op, None if self.members == "all" else self.members)
            + waited_ms
        )
        sample_count = len(latencies_ms)
        missing = too_few_samples(self.subject, sample_count, min_samples)
        if missing is not None:
            return missing
        if self.percentile is None:
            return Measured(value=math.fsum(latencies_ms) / sample_count, samples=sample_count)
        return Measured(
            value=nearest_rank_percentile(latencies_ms, self.percentile), samples=sample_count
        )

    def _measure_histogram(self, histogram: LatencyHistogram, min_samples: int) -> Measured:
        count = histogram.count
        missing = too_few_samples(self.subject, count, min_samples)
        if missing is not None:
            return missing
        if self.percentile is None:
            return Measured(value=histogram.mean_ms(), samples=count)
        return Measured(value=histogram.percentile_ms(float(self.percentile)), samples=count)


def ok_latencies_ms(measurements: Measurements, op: str, member_kind: str | None) -> list[float]:
    """Latencies (ms) of the successful samples of ``op``; ``member_kind`` None means both."""
    return [
        sample.latency_ms
        for sample in measurements.samples
        if sample.ok
        and sample.op == op
        and (member_kind is None or sample.member_kind == member_kind)
    ]


def nearest_rank_percentile(sorted_values: Sequence[float], percentile: Fraction | float) -> float:
    """The nearest-rank ``percentile`` (0..100) of ascending, non-empty ``sorted_values``.

    Raises:
        ValueError: ``sorted_values`` is empty or ``percentile`` is outside 0..100.
    """
    if not sorted_values:
        raise ValueError("cannot take a percentile of no values")
    exact_percentile = Fraction(percentile)
    if not 0 <= exact_percentile <= 100:
        raise ValueError(f"percentile must be within 0..100, got {percentile}")
    rank = math.ceil(exact_percentile * len(sorted_values) / 100)
    return sorted_values[max(rank, 1) - 1]


def parse_statistic(statistic: str) -> Fraction | None:
    """The percentile a statistic name denotes (None for ``mean``).

    Raises:
        ValueError: unknown statistic or percentile outside 0..100.
    """
    if statistic in NAMED_STATISTICS:
        return NAMED_STATISTICS[statistic]
    match = _PERCENTILE_PATTERN.match(statistic)
    if match is None:
        suggestion = difflib.get_close_matches(
            statistic, ["p50", "p90", "p95", "p99", "p999", *NAMED_STATISTICS], n=1
        )
        hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
        raise ValueError(f"unknown statistic '{statistic}'; {hint}use one of {STATISTICS_HELP}")
    digits = match["number"]
    if digits in ("999", "9999"):
        return Fraction("99." + digits[2:])
    percentile = Fraction(digits)
    if percentile > 100:
        raise ValueError(
            f"percentile '{statistic}' is outside 0..100; use p0..p100, p99.9, or p999 (99.9)"
        )
    return percentile


def parse(subject: str) -> LatencyMetric:
    """Parse ``OP[MEMBERS].STAT`` into a :class:`LatencyMetric`.

    Raises:
        ValueError: one-line message naming the bad part and the valid choices.
    """
    match = _SUBJECT_PATTERN.match(subject)
    if match is None:
        raise ValueError(f"cannot read latency subject '{subject}'; write it as {SYNTAX}")
    op = match["op"]
    if op not in OPS:
        raise ValueError(f"unknown operation '{op}'; use one of {', '.join(OPS)}")
    members = "all" if match["members"] is None else match["members"].strip().lower()
    if members not in MEMBER_SELECTORS:
        suggestion = difflib.get_close_matches(members, MEMBER_SELECTORS, n=1)
        hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
        raise ValueError(
            f"unknown member kind '{match['members']}' in '{subject}'; {hint}use fast, slow or all"
        )
    if match["statistic"] is None:
        raise ValueError(
            f"'{subject}' needs a statistic; add one of {STATISTICS_HELP}, e.g. '{subject}.p99'"
        )
    statistic = match["statistic"].lower()
    return LatencyMetric(op, members, statistic, parse_statistic(statistic))


SYNTAX = f"{'|'.join(OPS)}[fast|slow|all].STAT (STAT: {STATISTICS_HELP})"

KIND = ThresholdKind(name="latency", heads=OPS, syntax=SYNTAX, parse=parse)
