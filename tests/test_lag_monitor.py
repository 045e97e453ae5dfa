"""The lag probe of a Locust process (harness.loadgen.lag.LagMonitor), on the real gevent loop
of this test: a loop held up is measured as late ticks, and a window ships from a greenlet."""

from __future__ import annotations

import time
import types
from typing import Any

import gevent

from harness.loadgen.lag import TICK_S, LagMonitor
from harness.measure.hdr import LatencyHistogram


class _Hook:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)


class _Runner:
    """A local runner's ``send_message`` (as the collector's would be called)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, message_type: str, data: dict[str, Any]) -> None:
        self.sent.append(data)


def test_a_held_loop_is_measured_as_late_ticks_and_closing_stops_the_probe() -> None:
    runner = _Runner()
    environment = types.SimpleNamespace(
        runner=runner, events=types.SimpleNamespace(cpu_warning=_Hook(), quitting=_Hook()))
    monitor = LagMonitor(environment, "")
    monitor.attach()
    try:
        gevent.sleep(TICK_S * 5)
        time.sleep(0.2)  # holds the whole loop: no tick runs meanwhile
        gevent.sleep(TICK_S * 3)
        monitor.ship()
    finally:
        monitor.close()
    window = runner.sent[-1]
    assert window["max_ms"] >= 200 - TICK_S * 1000
    # The stall counts as the ticks it swallowed (the coordinated-omission correction).
    assert window["count"] >= 0.2 / TICK_S
    histogram = LatencyHistogram.decode(window["histogram"])
    assert histogram.max_ms() >= 180
    shipped = len(runner.sent)
    gevent.sleep(TICK_S * 5)
    monitor.ship()  # closed: no tick since, so nothing to ship
    assert len(runner.sent) == shipped
