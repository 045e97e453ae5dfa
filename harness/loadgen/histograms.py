"""Latency histograms from every Locust process, merged on the master.

Each process records every sample's raw latency, and the corrected latency
of joins (see :mod:`harness.loadgen.schedule`), into HdrHistograms. Once a
second it sends what it recorded since the last time with
``runner.send_message("room_histograms", ...)``; the master (or the local
runner, where ``send_message`` calls the handler directly) merges the deltas
and writes the cumulative set to ``--histograms-file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.loadgen.collector import register_collector
from harness.loadgen.recorder import RequestRecorder
from harness.loadgen.samples import SAMPLE_KINDS
from harness.measure.hdr import HistogramSet, write_histograms

__all__ = ["HistogramRecorder"]

MESSAGE_TYPE = "room_histograms"


class HistogramRecorder(RequestRecorder):
    """Record every sample's latency (and joins' corrected latency) and ship the deltas."""

    interval = 1.0  # Deltas go to the master once a second.

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment)
        self.path = Path(path) if path else None
        self.merged = HistogramSet()
        self._delta = HistogramSet()

    def _collect_on(self, runner: Any) -> None:
        register_collector(runner, MESSAGE_TYPE, self._merge)

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None, context: Any = None,
                    **_: Any) -> None:
        if request_type not in SAMPLE_KINDS or exception is not None or not self._recording:
            return
        self._delta.record(name, request_type, "raw", response_time)
        corrected = context.get("corrected_ms") if isinstance(context, dict) else None
        if corrected is not None:
            self._delta.record(name, request_type, "corrected", float(corrected))

    def ship(self) -> None:
        if not self._delta:
            return
        delta, self._delta = self._delta, HistogramSet()
        runner = self.environment.runner
        if runner is not None:
            runner.send_message(MESSAGE_TYPE, delta.encode())

    def _merge(self, msg: Any, **_: Any) -> None:
        self.merged.merge_encoded(msg.data)
        if self.path is not None:
            write_histograms(self.path, self.merged)
