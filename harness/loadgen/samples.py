"""Every measured operation, as JSON lines the harness reads.

Each Locust process batches its samples and sends them with
``runner.send_message("room_samples", batch)``. On a master, workers' batches
arrive through Locust's custom messages; on a local runner, ``send_message``
calls the handler directly, so one code path serves both. Only the master (or
the local runner) writes the file.
"""

from __future__ import annotations

import time
from typing import Any

from .collector import JsonLinesShipper

__all__ = ["SampleRecorder", "SAMPLE_KINDS"]

#: Request types that are member samples (lock reports use "LOCK").
SAMPLE_KINDS = ("fast", "slow")
MESSAGE_TYPE = "room_samples"
FLUSH_INTERVAL = 0.5


class SampleRecorder(JsonLinesShipper):
    """Collect samples from ``events.request`` and ship them to the writer."""

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment, path, MESSAGE_TYPE, FLUSH_INTERVAL)
        self._recording = True

    def attach(self) -> bool:
        """Hook into the runner once it exists (call from ``events.init``)."""
        if not super().attach():
            return False
        events = self.environment.events
        events.request.add_listener(self._on_request)
        events.test_start.add_listener(lambda **_: self._record(True))
        events.test_stop.add_listener(lambda **_: self._record(False))
        return True

    def _record(self, on: bool) -> None:
        """Record between a test's start and stop only (see HistogramRecorder._record)."""
        if not on:
            self.flush()
        self._recording = on

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None, context: Any = None,
                    **_: Any) -> None:
        if request_type not in SAMPLE_KINDS or not self._recording:
            return
        self.queue({
            "time": time.time(),
            "op": name,
            "member_kind": request_type,
            "latency_ms": round(float(response_time), 3),
            "ok": exception is None,
            "error": None if exception is None else str(exception)[:200],
            "member": context.get("member") if isinstance(context, dict) else None,
            "corrected_ms": context.get("corrected_ms") if isinstance(context, dict) else None,
            # Assigned by the master after init, so read it per sample.
            "worker": getattr(self.environment.runner, "worker_index", 0),
        })
