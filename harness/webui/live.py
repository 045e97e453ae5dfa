"""What the master has seen since the swarm started: samples, lock reports, threshold status.

Samples come from the file the :class:`~harness.loadgen.samples.SampleRecorder` writes on the
master (workers' batches included), read incrementally into memory. Without a samples file, a
local runner takes them straight from ``events.request``. Lock reports come from the ``LOCK``
requests that :class:`~harness.loadgen.lockfeed.LockFeed` fires, each carrying its report in
``context["report"]``.

Everything restarts from empty when a swarm starts (``test_start``) and when Locust's stats are
reset (``reset_stats``), so the thresholds judge the same span as Locust's own statistics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checker.verdict import evaluate_checks
from harness.loadgen.samples import SAMPLE_KINDS
from harness.measure.delivery_order import DeliveryOrderCounts
from harness.measure.measurements import Measurements, Sample, live_measurements
from harness.runfolder import RunFolder
from harness.runfolder.live import RunFolderReaders
from harness.thresholds import Check, CheckResult

__all__ = ["LiveMeasurements", "ThresholdStatus", "LOCK_REQUEST_TYPE"]

#: ``request_type`` of the failures LockFeed fires, one per lock report.
LOCK_REQUEST_TYPE = "LOCK"

#: How each check status reads in the UI.
STATUS_LABELS = {"holding": "holding", "broken": "broken", "no_data": "not enough data yet"}


@dataclass(frozen=True)
class ThresholdStatus:
    """One check as the UI shows it."""

    check: str
    status: str  # holding, broken or no_data
    label: str  # holding, broken or "not enough data yet"
    measured: str  # "612 ms", "n/a"
    detail: str  # "join[fast].p99 = 612 ms (limit < 250 ms)" or why there is no data
    samples: int

    @classmethod
    def from_result(cls, result: CheckResult) -> ThresholdStatus:
        return cls(result.check, result.status, STATUS_LABELS[result.status],
                   result.measured_text(), result.describe(), result.samples)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "label": self.label,
                "measured": self.measured, "detail": self.detail, "samples": self.samples}


class LiveMeasurements:
    """Samples and lock reports since the swarm started, and the checks evaluated on them.

    Args:
        checks: The scenario's checks.
        min_samples: The scenario's ``min_samples``.
        samples_file: The file the master's SampleRecorder appends to; ``None`` to take samples
            from ``events.request`` instead (right on a local runner only).
        lock_reports_available: False when the target has no lock-report source: then
            ``lock_reports`` checks have no data, as in a run, instead of holding on nothing.
    """

    def __init__(self, checks: Sequence[Check], min_samples: int,
                 samples_file: str | None, lock_reports_available: bool = True) -> None:
        self.checks = tuple(checks)
        self.min_samples = min_samples
        self.lock_reports_available = lock_reports_available
        self.samples: list[Sample] = []
        self.lock_reports: list[dict[str, Any]] = []
        #: Changes whenever the lists restart from empty, so pollers know to start over.
        self.generation = 0
        self.started = time.time()
        # The samples, and beside them deliver.reordered and deliver.lost (counted by the
        # members) and the operations in flight (counted by latency checks at their age).
        self._readers = RunFolderReaders(RunFolder.beside(samples_file)) if samples_file else None
        self._tail = self._readers.samples if self._readers else None
        self._order = self._readers.order if self._readers else None
        self._inflight = self._readers.inflight if self._readers else None

    # Hooks.

    def attach(self, events: Any) -> None:
        """Listen to Locust's ``request``, ``test_start`` and ``reset_stats`` events."""
        events.request.add_listener(self._on_request)
        events.test_start.add_listener(lambda **_: self.reset())
        events.reset_stats.add_listener(lambda **_: self.reset())

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None,
                    context: dict[str, Any] | None = None, **_: Any) -> None:
        if request_type == LOCK_REQUEST_TYPE:
            report = (context or {}).get("report")
            if isinstance(report, dict):
                self.lock_reports.append(report)
        elif self._tail is None and request_type in SAMPLE_KINDS:
            try:
                corrected = (context or {}).get("corrected_ms")
                self.samples.append(Sample.from_dict({
                    "time": time.time(), "op": name, "member_kind": request_type,
                    "latency_ms": max(0.0, float(response_time)), "ok": exception is None,
                    "error": None if exception is None else str(exception)[:200],
                    "corrected_ms": corrected,
                }))
            except (TypeError, ValueError):
                pass  # not a room operation

    # State.

    def reset(self) -> None:
        """Start over from empty; samples already in the file are skipped."""
        if self._tail is not None:
            self._tail.read_new()
        if self._order is not None:
            self._order.read_new()
            self._order.counts = DeliveryOrderCounts()
        self.samples = []
        self.lock_reports = []
        self.generation += 1
        self.started = time.time()

    def refresh(self) -> None:
        """Read the samples written since the last call."""
        if self._readers is not None:
            self.samples.extend(self._readers.read_new())

    def measurements(self) -> Measurements:
        """A snapshot for the thresholds, built as a run builds its own (the lists are copied)."""
        return live_measurements(self.samples, self.lock_reports,
                                 lock_reports_available=self.lock_reports_available,
                                 histograms_file=None, run_started=self.started,
                                 delivery_order=None if self._order is None
                                 else self._order.counts,
                                 waiting=None if self._inflight is None
                                 else self._inflight.current())

    def thresholds(self) -> list[ThresholdStatus]:
        """Every check evaluated on what was seen so far."""
        results = evaluate_checks(self.checks, self.measurements(), self.min_samples)
        return [ThresholdStatus.from_result(result) for result in results]
