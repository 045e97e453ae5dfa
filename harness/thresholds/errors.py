"""Threshold kind ``errors``: failed operations.

Subjects:

* ``errors.ratio``: failed samples / all samples, over every operation and member kind (lock
  reports are not samples). Limits are a fraction (``0.01``) or a percentage (``1%``).
* ``errors.count``: number of failed samples. Limits are plain numbers.

Like ``lock_reports``, both need the run to have recorded at least ``min_samples`` samples;
``samples`` in the result is the total number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.measure.measurements import Measurements, Sample
from harness.thresholds.base import (
    EVERY_OPERATION,
    HeadStatistic,
    Measured,
    ThresholdKind,
    not_enough_load,
    pick_statistic,
    ratio_limit,
    require_no_unit,
    statistic_after,
)

HEAD = "errors"
STATISTICS: tuple[str, ...] = ("ratio", "count")
SYNTAX = "errors.ratio (fraction 0..1 or N%) or errors.count"


@dataclass(frozen=True)
class ErrorMetric(HeadStatistic):
    """``errors.ratio`` or ``errors.count`` over all samples."""

    head: ClassVar[str] = HEAD

    unit: ClassVar[str] = ""
    """Ratios and counts have no unit."""

    observed: ClassVar[str] = EVERY_OPERATION
    """Every operation of every member counts."""

    def observes(self, sample: Sample) -> bool:
        """Every sample counts."""
        return True

    def limit_from(self, number: float, unit: str | None) -> float:
        """Counts take no unit; ratios take none (0..1) or ``%`` (converted to a fraction)."""
        if self.statistic == "count":
            require_no_unit(self.subject, unit)
            return number
        return ratio_limit(self.subject, number, unit)

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """Failed samples as a ratio of all samples, or their count."""
        too_little_load = not_enough_load(measurements, min_samples, self.subject)
        if too_little_load is not None:
            return too_little_load
        total_samples = len(measurements.samples)
        failed_samples = sum(1 for sample in measurements.samples if not sample.ok)
        if self.statistic == "count":
            return Measured(value=float(failed_samples), samples=total_samples)
        return Measured(value=failed_samples / total_samples, samples=total_samples)


def parse(subject: str) -> ErrorMetric:
    """Parse ``errors.ratio`` or ``errors.count``.

    Raises:
        ValueError: any other subject starting with ``errors``.
    """
    statistic = statistic_after(HEAD, subject)
    return ErrorMetric(pick_statistic(statistic, STATISTICS, subject, SYNTAX, f"{HEAD}."))


KIND = ThresholdKind(name="errors", heads=(HEAD,), syntax=SYNTAX, parse=parse)
