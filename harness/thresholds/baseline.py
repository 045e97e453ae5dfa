"""Limits relative to the run's own baseline: ``join[fast].p99 < 3x baseline``.

A user of a real service rarely knows the absolute latency to write in a check, but knows that
the fault must not make things much worse than they were. The baseline is the same metric over
the run's warm-up phase, before the faults go on; the check compares the whole run's value
with it, as a ratio (unit ``x``).

Joins are judged on latency corrected for coordinated omission (see
:mod:`harness.thresholds.latency`), so the baseline of a join metric is taken from the warm-up
joins' corrected latency too; other operations have only raw latency. A run whose warm-up gave
fewer than ``min_samples`` samples has no baseline: the check has no data, and the verdict is
ERROR, never PASS.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from harness.measure.hdr import HistogramSet
from harness.measure.measurements import Measurements, Sample
from harness.thresholds.base import Measured, Metric, ObservesOperations, format_number

__all__ = ["BaselineRelative", "warmup_measurements"]


def warmup_measurements(measurements: Measurements) -> Measurements | None:
    """The samples recorded before the faults went on, or None while there is no warm-up yet.

    Join samples carry their corrected latency as ``latency_ms`` where they have one, so
    that a baseline compares like with like when the whole run is judged on corrected joins.
    """
    if measurements.fault_started is None:
        return None
    cutoff = measurements.fault_started
    samples = [
        sample if sample.corrected_ms is None
        else dataclasses.replace(sample, latency_ms=sample.corrected_ms)
        for sample in measurements.samples
        if sample.time < cutoff
    ]
    return Measurements(samples=samples, histograms=HistogramSet(),
                        run_started=measurements.run_started, run_ended=cutoff)


@dataclass(frozen=True)
class BaselineRelative:
    """``inner``, measured over the whole run, as a multiple of its warm-up value."""

    inner: Metric

    @property
    def subject(self) -> str:
        """The inner subject; the check's text says ``x baseline``."""
        return self.inner.subject

    unit: ClassVar[str] = "x"
    """``"x"``: times the baseline."""

    @property
    def observed(self) -> str:
        """What the inner metric is measured on; ``""`` when not on operations."""
        return self.inner.observed if isinstance(self.inner, ObservesOperations) else ""

    def observes(self, sample: Sample) -> bool:
        """The inner metric's samples (none when it is not measured on operations)."""
        return isinstance(self.inner, ObservesOperations) and self.inner.observes(sample)

    def limit_from(self, number: float, unit: str | None) -> float:
        """The factor as written (``3`` in ``< 3x baseline``)."""
        return number

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """Whole-run value divided by the warm-up value; no data without a usable baseline."""
        current = self.inner.measure(measurements, min_samples)
        if current.value is None:
            return current
        warmup = warmup_measurements(measurements)
        if warmup is None:
            return Measured(value=None, samples=current.samples,
                            reason=f"{self.subject} has no baseline: the faults never went on, "
                                   "so the run had no warm-up to compare with")
        baseline = self.inner.measure(warmup, min_samples)
        if baseline.value is None:
            return Measured(value=None, samples=current.samples,
                            reason=f"{self.subject} baseline: {baseline.reason} in the warm-up; "
                                   "lengthen [timing] warmup or lower min_samples")
        if baseline.value <= 0:
            return Measured(value=None, samples=current.samples,
                            reason=f"{self.subject} baseline is 0 {self.inner.unit}; a ratio to "
                                   "it means nothing, use an absolute limit")
        return Measured(
            value=current.value / baseline.value,
            samples=current.samples,
            reason=f"{format_number(current.value)} {self.inner.unit} against a warm-up "
                   f"baseline of {format_number(baseline.value)} {self.inner.unit}",
        )
