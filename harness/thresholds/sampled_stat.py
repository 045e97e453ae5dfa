"""What the kinds that judge sampled series share: ``max``, ``min``, ``last`` and ``growth``.

A sampled series (:mod:`harness.measure.series`) is judged on one statistic of its points over the
run: ``max`` and ``min``, ``last`` (the latest point), or ``growth`` (last minus first, which
needs two points). A series without points has no data, with the sampler's reason (the
scrape failed, the target has no pid...): the verdict is then ERROR, never PASS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.measure.measurements import Measurements
from harness.thresholds.base import Measured, pick_statistic

__all__ = ["STATISTICS", "SeriesStatistic", "measure_series", "parse_statistic"]

STATISTICS: tuple[str, ...] = ("max", "min", "last", "growth")


def parse_statistic(statistic: str, subject: str, syntax: str) -> str:
    """``statistic`` when it is one of :data:`STATISTICS`; else ValueError with a hint."""
    return pick_statistic(statistic, STATISTICS, subject, syntax)


def measure_series(measurements: Measurements, series: str, subject: str, statistic: str,
                   scale: float = 1.0) -> Measured:
    """``statistic`` of the points of ``series``, divided by ``scale`` (e.g. bytes to MB)."""
    points = measurements.sampled.points.get(series, [])
    values = [value for _, value in points]
    if not values:
        return Measured(value=None, samples=0,
                        reason=f"{subject} has no data: "
                               f"{measurements.sampled.no_data_reason(series)}")
    if statistic == "growth" and len(values) < 2:
        return Measured(value=None, samples=1,
                        reason=f"{subject} has 1 sample, needs 2 to measure growth")
    result = {
        "max": lambda: max(values),
        "min": lambda: min(values),
        "last": lambda: values[-1],
        "growth": lambda: values[-1] - values[0],
    }[statistic]()
    return Measured(value=result / scale, samples=len(values))


@dataclass(frozen=True)
class SeriesStatistic:
    """A statistic of one sampled series. Kinds subclass it and give ``series_name`` (what
    the sampler samples, see harness.thresholds.base.SampledMetric; the subject is
    ``SERIES.STAT``), the unit and limits, and ``scale`` where values are converted."""

    at_target: ClassVar[bool] = True  # sampled from the target: its /metrics or its process
    statistic: str

    @property
    def series_name(self) -> str:
        raise NotImplementedError

    @property
    def subject(self) -> str:
        """``SERIES.STAT``: ``rss.growth``, ``metric[roomserver_pending_sends].max``."""
        return f"{self.series_name}.{self.statistic}"

    @property
    def scale(self) -> float:
        """Sampled values are divided by this; 1 keeps them as sampled."""
        return 1.0

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """The statistic over the points sampled so far (``min_samples`` is for load samples;
        a sampled series needs one point, two for ``growth``)."""
        return measure_series(measurements, self.series_name, self.subject, self.statistic,
                              self.scale)
