"""Threshold kind ``lock_reports``: how many lock-contention reports lockwatch made.

Subjects: ``lock_reports`` (all reports) or ``lock_reports[KIND]`` (only reports whose ``kind``
equals KIND, e.g. ``lock_reports[wait]``). Values are plain counts; limits take no unit.

A count of zero is only evidence of health if the server was exercised, so the metric has no
data (the verdict is ERROR) unless the run recorded at least ``min_samples`` samples of any
operation; ``samples`` in the result is that number of load samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from harness.measure.measurements import Measurements
from harness.thresholds.base import Measured, PlainNumber, ThresholdKind, not_enough_load

HEAD = "lock_reports"
SYNTAX = "lock_reports or lock_reports[KIND] (KIND: a lockwatch report kind, e.g. wait, hold)"

_SUBJECT_PATTERN = re.compile(r"^lock_reports(?:\[(?P<report_kind>[A-Za-z_][A-Za-z0-9_-]*)\])?$")


@dataclass(frozen=True)
class LockReportCount(PlainNumber):
    """Number of lock reports, optionally only those of one ``report_kind``."""

    at_target: ClassVar[bool] = True  # the server's own lock monitor reported them
    report_kind: str | None = None

    @property
    def subject(self) -> str:
        """``lock_reports`` or ``lock_reports[KIND]``."""
        return HEAD if self.report_kind is None else f"{HEAD}[{self.report_kind}]"

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """Count the matching reports, if the run produced enough load to mean anything."""
        if not measurements.lock_reports_available:
            # No source was read: "0 reports" would be a PASS that measured nothing.
            return Measured(value=None, samples=0,
                            reason=f"{self.subject} has no lock report source "
                                   "(pass --lock-reports FILE|URL)")
        too_little_load = not_enough_load(measurements, min_samples, self.subject)
        if too_little_load is not None:
            return too_little_load
        report_count = sum(
            1
            for report in measurements.lock_reports
            if self.report_kind is None or report.get("kind") == self.report_kind
        )
        return Measured(value=float(report_count), samples=len(measurements.samples))


def parse(subject: str) -> LockReportCount:
    """Parse ``lock_reports`` or ``lock_reports[KIND]``.

    Raises:
        ValueError: anything else after ``lock_reports``.
    """
    match = _SUBJECT_PATTERN.match(subject)
    if match is None:
        raise ValueError(f"cannot read subject '{subject}'; write {SYNTAX}")
    return LockReportCount(report_kind=match["report_kind"])


KIND = ThresholdKind(name="lock_reports", heads=(HEAD,), syntax=SYNTAX, parse=parse)
