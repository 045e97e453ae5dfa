"""What a run measured before its faults went on: the warm-up, judged like the whole run.

The verdict evaluates each broken check again on :func:`before_faults` and says so when it was
already broken there (harness.checker.verdict): a check that fails before any fault blames the
target
or the check's limit, not the fault.
"""

from __future__ import annotations

from harness.measure.hdr import HistogramSet
from harness.measure.inflight import Waiting
from harness.measure.measurements import OPS, Measurements, Sample
from harness.measure.series import SampledSeries

__all__ = ["before_faults"]


def before_faults(measurements: Measurements) -> Measurements | None:
    """The samples, lock reports and sampled points from before the faults went on; None when
    they never did (the run had no warm-up to speak of).

    Joins are judged on the corrected latency their samples carry, as the whole run is; the
    order counts and the generator's lag cannot be split by time and are left out (a check on
    them has no data here, so it is never said to be broken in the warm-up). An operation that
    began before the faults and ended (or never did) after they went on was in flight then: it
    counts as waiting at its age at that moment, a lower bound, as in a live judgement (so a
    room that froze in the warm-up is said to have broken there, not blamed on the fault).
    """
    cutoff = measurements.fault_started
    if cutoff is None:
        return None
    samples = [sample for sample in measurements.samples if sample.time < cutoff]
    waiting = [Waiting(sample.op, sample.member_kind, (cutoff - began) * 1000.0)
               for sample in measurements.samples
               if sample.time >= cutoff and sample.op in OPS
               and (began := _began(sample)) < cutoff]
    histograms = HistogramSet()
    for sample in samples:
        if sample.ok and sample.corrected_ms is not None:
            histograms.record(sample.op, sample.member_kind, "corrected", sample.corrected_ms)
    sampled = measurements.sampled.snapshot()
    return Measurements(
        samples=samples,
        lock_reports=[report for report in measurements.lock_reports
                      if isinstance(report.get("time"), int | float)
                      and report["time"] < cutoff],
        run_started=measurements.run_started,
        run_ended=cutoff,
        histograms=histograms,
        waiting=waiting,
        lock_reports_available=measurements.lock_reports_available,
        sampled=SampledSeries({name: [point for point in points if point[0] < cutoff]
                               for name, points in sampled.points.items()},
                              dict(sampled.problems)),
    )


def _began(sample: Sample) -> float:
    """When the operation began (wall clock): its end less its latency (for a delivery, the
    send)."""
    return sample.time - sample.latency_ms / 1000.0
