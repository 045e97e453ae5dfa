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

import gevent

from ..hdr import HistogramSet, write_histograms
from .collector import register_collector
from .samples import SAMPLE_KINDS

__all__ = ["HistogramRecorder"]

MESSAGE_TYPE = "room_histograms"
SHIP_INTERVAL = 1.0


class HistogramRecorder:
    def __init__(self, environment: Any, path: str) -> None:
        self.environment = environment
        self.path = Path(path) if path else None
        self.merged = HistogramSet()
        self._delta = HistogramSet()
        self._shipper: gevent.Greenlet | None = None
        self._recording = True

    def attach(self) -> None:
        runner = self.environment.runner
        if runner is None:
            return
        register_collector(runner, MESSAGE_TYPE, self._merge)
        events = self.environment.events
        events.request.add_listener(self._on_request)
        events.test_start.add_listener(lambda **_: self._record(True))
        events.test_stop.add_listener(lambda **_: self._record(False))
        events.quitting.add_listener(lambda **_: self.close())
        self._shipper = gevent.spawn(self._ship_forever)

    def _record(self, on: bool) -> None:
        """Record between a test's start and stop only.

        After ``test_stop``, Locust kills the users and writes its HTML and CSV reports,
        which can hold its event loop for a third of a second: an operation still in
        flight then completes late, and in a p99 over a hundred joins one such join
        decides a verdict. The samples file ends at the same point, so both agree.
        """
        if not on:
            self.ship()
        self._recording = on

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None, context: Any = None,
                    **_: Any) -> None:
        if request_type not in SAMPLE_KINDS or exception is not None or not self._recording:
            return
        self._delta.record(name, request_type, "raw", response_time)
        corrected = context.get("corrected_ms") if isinstance(context, dict) else None
        if corrected is not None:
            self._delta.record(name, request_type, "corrected", float(corrected))

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL)
            self.ship()

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

    def close(self) -> None:
        self.ship()
        if self._shipper is not None:
            self._shipper.kill(block=False)
