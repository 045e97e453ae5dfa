"""What a run measured before its faults went on: the warm-up, judged like the whole run.

The verdict evaluates each broken check again on :func:`before_faults` and says so when it was
already broken there (harness.verdict): a check that fails before any fault blames the target
or the check's limit, not the fault.
"""

from __future__ import annotations

from harness.hdr import HistogramSet
from harness.measurements import Measurements
from harness.sampled import SampledSeries

__all__ = ["before_faults"]


def before_faults(measurements: Measurements) -> Measurements | None:
    """The samples, lock reports and sampled points from before the faults went on; None when
    they never did (the run had no warm-up to speak of).

    Joins are judged on the corrected latency their samples carry, as the whole run is; the
    order counts and the generator's lag cannot be split by time and are left out (a check on
    them has no data here, so it is never said to be broken in the warm-up).
    """
    cutoff = measurements.fault_started
    if cutoff is None:
        return None
    samples = [sample for sample in measurements.samples if sample.time < cutoff]
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
        lock_reports_available=measurements.lock_reports_available,
        sampled=SampledSeries({name: [point for point in points if point[0] < cutoff]
                               for name, points in sampled.points.items()},
                              dict(sampled.problems)),
    )
