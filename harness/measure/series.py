"""Values sampled at intervals during a run: Prometheus metrics, the target's RSS and threads.

:class:`SampledSeries` holds, per series name, the points ``(unix time, value)`` taken so far,
and for a series that could not be sampled (or not every time) the last reason why. The
``metric``, ``rss`` and ``threads`` threshold kinds judge these series; ``result.json`` keeps
them (``series.sampled``, times relative to the run's start) and the report draws them.

Series names:

- ``metric[SELECTOR]``: a Prometheus selector (``metric[roomserver_pending_sends]``,
  ``metric[roomserver_outbox_depth{stat="max"}]``), see :mod:`harness.measure.prometheus`;
- ``rss`` (in bytes) and ``threads``: the resident set size and thread count of the target
  process the harness started (:mod:`harness.measure.sampler`);
- ``inflight`` and ``inflight_oldest_s``: the operations in flight over every Locust process
  and the oldest's age in seconds, added at the run's end from what the load generator
  reported every 0.25 s (:mod:`harness.measure.inflight`); no check judges them, the pages draw
  them.

A check's subject is its series name followed by a statistic (``rss.growth``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RSS_SERIES", "THREADS_SERIES", "SampledSeries", "metric_series"]

RSS_SERIES = "rss"
THREADS_SERIES = "threads"


def metric_series(selector: str) -> str:
    """The series name of a Prometheus selector: ``metric[SELECTOR]``."""
    return f"metric[{selector}]"


@dataclass
class SampledSeries:
    """Points per series and the reason a series lacks data; safe to fill from one thread
    while another takes :meth:`snapshot`\\ s."""

    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, time: float, value: float) -> None:
        """Record ``value`` of series ``name`` at ``time`` (Unix seconds)."""
        with self._lock:
            self.points.setdefault(name, []).append((time, value))

    def fail(self, name: str, reason: str) -> None:
        """Remember why series ``name`` could not be sampled (the latest reason wins)."""
        with self._lock:
            self.problems[name] = reason

    def snapshot(self) -> SampledSeries:
        """A copy that later samples do not change."""
        with self._lock:
            return SampledSeries({name: list(points) for name, points in self.points.items()},
                                 dict(self.problems))

    def no_data_reason(self, name: str) -> str:
        """Why ``name`` has no points: the sampler's reason, or that nothing sampled it."""
        return self.problems.get(name) or f"{name} was not sampled in this run"

    def to_dict(self, origin: float) -> dict[str, Any]:
        """``{"points": {name: [[t_s, value], ...]}, "problems": {name: reason}}``, with times
        in seconds since ``origin`` (the run's start), rounded to milliseconds."""
        with self._lock:
            return {
                "points": {name: [[round(time - origin, 3), value] for time, value in points]
                           for name, points in sorted(self.points.items())},
                "problems": dict(sorted(self.problems.items())),
            }
