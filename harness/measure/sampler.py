"""Sample Prometheus metrics and the target process's RSS and threads during a run.

One daemon thread, started when load starts and stopped when it stops, takes a sample every
:data:`SAMPLE_INTERVAL` seconds:

- when the checks name Prometheus selectors, one GET of the metrics URL (the target's
  ``/metrics``, or ``[target] metrics_url``), each selector's value from it;
- when the rig started the target process (it has a pid), its resident set size and thread
  count through psutil. An external target has no pid: those series get a reason instead of
  points, so a check on them has no data (ERROR), never a silent PASS.

Every point also goes to ``series.jsonl`` in the run folder, one JSON line each
(``{"time": unix_s, "t_s": since_start_s, "series": name, "value": v}``).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import psutil

from harness.measure.prometheus import MetricSelector, ScrapeFailed, scrape
from harness.measure.series import RSS_SERIES, THREADS_SERIES, SampledSeries, metric_series

__all__ = ["SAMPLE_INTERVAL", "SeriesSampler", "read_series_file"]

#: Seconds between two samples.
SAMPLE_INTERVAL = 0.5
#: A scrape must answer within this; a slower one is a failed sample, not a stalled run.
SCRAPE_TIMEOUT = 1.0


class SeriesSampler:
    """Fill a :class:`SampledSeries` in the background.

    Args:
        series_file: Where every point is appended as a JSON line.
        metrics_url: The Prometheus endpoint, or None when no check names a metric.
        selectors: The selectors to read from each scrape.
        pid: The target process, or None when the harness did not start it.
        interval: Seconds between samples.
        context: Verifies an ``https://`` metrics URL (a wss target's own CA).
    """

    def __init__(self, series_file: Path, *, metrics_url: str | None,
                 selectors: Sequence[MetricSelector], pid: int | None,
                 interval: float = SAMPLE_INTERVAL,
                 context: ssl.SSLContext | None = None) -> None:
        self.series = SampledSeries()
        self.series_file = series_file
        self.metrics_url = metrics_url
        self.selectors = list(selectors)
        self.interval = interval
        self.context = context
        self.origin = time.time()
        self._process: psutil.Process | None = None
        if pid is None:
            reason = ("the target was not started by the harness (no pid), so its {} cannot "
                      "be sampled; use the bundled server or a launched target")
            self.series.fail(RSS_SERIES, reason.format("RSS"))
            self.series.fail(THREADS_SERIES, reason.format("thread count"))
        else:
            try:
                self._process = psutil.Process(pid)
            except psutil.Error as exc:
                self._fail_process(f"target process {pid} cannot be read: {exc}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="series sampler", daemon=True)

    def start(self, origin: float) -> None:
        """Start sampling; ``origin`` is the run's start (for ``t_s`` in the file)."""
        self.origin = origin
        self._thread.start()

    def stop(self) -> None:
        """Take one last sample and stop; waits for the thread (a scrape is bounded)."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(SCRAPE_TIMEOUT * 2 + 1)

    def snapshot(self) -> SampledSeries:
        """What was sampled so far (a copy)."""
        return self.series.snapshot()

    def _run(self) -> None:
        with open(self.series_file, "a", buffering=1, encoding="utf-8") as out:
            while True:
                stopping = self._stop.wait(self.interval)
                self.sample_once(out)
                if stopping:
                    return

    def sample_once(self, out: TextIO | None = None) -> None:
        """Take one sample of every series (and append its points to ``out``)."""
        now = time.time()
        points: list[tuple[str, float]] = []
        if self.metrics_url is not None and self.selectors:
            try:
                exposition = scrape(self.metrics_url, SCRAPE_TIMEOUT, self.context)
            except ScrapeFailed as exc:
                for selector in self.selectors:
                    self.series.fail(metric_series(str(selector)), f"scrape failed: {exc}")
            else:
                for selector in self.selectors:
                    value = selector.value(exposition)
                    if value is None:
                        self.series.fail(metric_series(str(selector)),
                                         f"{self.metrics_url} has no series {selector}")
                    else:
                        points.append((metric_series(str(selector)), value))
        if self._process is not None:
            try:
                with self._process.oneshot():
                    points.append((RSS_SERIES, float(self._process.memory_info().rss)))
                    points.append((THREADS_SERIES, float(self._process.num_threads())))
            except psutil.Error as exc:
                self._fail_process(f"target process {self._process.pid} is gone: {exc}")
                self._process = None
        for name, value in points:
            self.series.add(name, now, value)
            if out is not None:
                out.write(json.dumps({"time": now, "t_s": round(now - self.origin, 3),
                                      "series": name, "value": value}) + "\n")

    def _fail_process(self, reason: str) -> None:
        self.series.fail(RSS_SERIES, reason)
        self.series.fail(THREADS_SERIES, reason)


def read_series_file(path: Path, series: SampledSeries | None = None) -> SampledSeries:
    """The points a sampler appended to ``path`` (into ``series``, or a new one).

    A missing file is no point; a half-written or malformed line is skipped (the sampler
    writes whole lines, so only the last one of an interrupted run can be half-written).
    """
    series = SampledSeries() if series is None else series
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return series
    for line in text.splitlines():
        try:
            point = json.loads(line)
            name, when, value = point["series"], point["time"], point["value"]
        except (ValueError, TypeError, KeyError):
            continue
        if (isinstance(name, str) and isinstance(when, int | float)
                and isinstance(value, int | float)):
            series.add(name, float(when), float(value))
    return series
