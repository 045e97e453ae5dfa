"""Threshold kind ``metric``: a Prometheus metric scraped from the target during the run.

Subject: ``metric[SELECTOR].STAT`` where SELECTOR is a metric name with optional labels
(``roomserver_pending_sends``, ``roomserver_outbox_depth{stat="max"}``; the value is the
sum of every series with that name and those labels, see :mod:`harness.measure.prometheus`) and STAT
is ``max``, ``min``, ``last`` or ``growth`` (last minus first) over the samples the harness
took every 0.5 s (:mod:`harness.measure.sampler`). Values are plain numbers; limits take no unit.

The metrics come from the target's ``/metrics`` (the ws URL's host and port over http), or
from ``[target] metrics_url``. In a TOML basic string the label's quotes need escaping, so
write such a check as a literal string: ``'metric[roomserver_outbox_depth{stat="max"}].max
< 256'``. A metric the harness could not read (no answer, no such series) has no data: the
verdict is ERROR, never PASS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.measure.prometheus import MetricSelector
from harness.measure.series import metric_series
from harness.thresholds.base import PlainNumber, ThresholdKind
from harness.thresholds.sampled_stat import STATISTICS, SeriesStatistic, parse_statistic

HEAD = "metric"
SYNTAX = f"metric[NAME or NAME{{label=\"v\"}}].{'|'.join(STATISTICS)}"

_SUBJECT_PATTERN = re.compile(r"^metric\[(?P<selector>[^\]]+)\]\.(?P<statistic>[A-Za-z_]+)$")


@dataclass(frozen=True)
class PrometheusMetric(SeriesStatistic, PlainNumber):
    """One statistic (``max``, ``min``, ``last``, ``growth``) of a scraped Prometheus selector."""

    selector: MetricSelector

    @property
    def series_name(self) -> str:
        """``metric[SELECTOR]`` (labels sorted): what the sampler must scrape."""
        return metric_series(str(self.selector))


def parse(subject: str) -> PrometheusMetric:
    """Parse ``metric[SELECTOR].STAT``.

    Raises:
        ValueError: a malformed selector or an unknown statistic.
    """
    match = _SUBJECT_PATTERN.match(subject)
    if match is None:
        raise ValueError(f"cannot read subject '{subject}'; write {SYNTAX}, "
                         "e.g. metric[roomserver_pending_sends].max")
    selector = MetricSelector.parse(match["selector"])
    return PrometheusMetric(parse_statistic(match["statistic"], subject, SYNTAX), selector)


KIND = ThresholdKind(name="metric", heads=(HEAD,), syntax=SYNTAX, parse=parse)
