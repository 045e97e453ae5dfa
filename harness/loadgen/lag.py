"""How late the load generator itself is: a lag probe in every Locust process.

A FAIL must mean that the target failed, not the machine. When the generator
process is starved of CPU (a shared, noisy runner), every latency it measures
grows although the target is fine. So every Locust process
(local runner, master and each worker) sleeps 10 ms in a loop and records how
much later than that it woke up, like jHiccup: a timer of the gevent loop, restarted at each
tick from its own callback (a greenlet woken a hundred times a second cost about twice as
much CPU: two switches and a new timer per tick). A long stall counts as all the
ticks it swallowed (HdrHistogram's correction for coordinated omission), so a
2 s freeze weighs as 2 s of lag, not as one late tick.

Once a second each process sends its window (the lag histogram, its maximum,
Locust's CPU figure and whether Locust warned about CPU) with
``runner.send_message("room_lag", ...)``; the master (or the local runner,
where ``send_message`` calls the handler directly) appends one JSON line per
window to ``--lag-file``. The harness reads that file for the verdict
(see :mod:`harness.measure.generator_lag`).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import gevent

from harness.loadgen.collector import register_collector
from harness.measure.hdr import LatencyHistogram

__all__ = ["LagMonitor", "MESSAGE_TYPE", "TICK_S"]

MESSAGE_TYPE = "room_lag"
#: The probe sleeps this long; lateness beyond it is lag.
TICK_S = 0.01
#: Each process ships one window this often.
SHIP_INTERVAL = 1.0


class LagMonitor:
    """Measure this process's event-loop lag and ship it to the writer of ``path``."""

    def __init__(self, environment: Any, path: str) -> None:
        self.environment = environment
        self.path = path
        self._file: Any = None
        self._greenlet: gevent.Greenlet | None = None
        self._timer: Any = None
        self._armed = 0.0
        self._cpu_warning = False
        self._new_window()

    def _new_window(self) -> None:
        self._histogram = LatencyHistogram()
        self._max_ms = 0.0
        self._started = time.time()

    def attach(self) -> None:
        """Start probing once the runner exists (call from ``events.init``)."""
        runner = self.environment.runner
        if runner is None:
            return
        if self.path:
            self._file = register_collector(runner, MESSAGE_TYPE, self._write_window, self.path)
        events = self.environment.events
        events.cpu_warning.add_listener(self._on_cpu_warning)
        events.quitting.add_listener(lambda **_: self.close())
        # Repeating, so that ``again`` restarts it from each tick (as a sleep would); a
        # one-shot timer started again from its own callback fires at once, over and over.
        self._timer = gevent.get_hub().loop.timer(TICK_S, TICK_S)
        self._armed = time.monotonic()
        self._timer.start(self._tick)
        # Shipping may block (a worker's message to the master): never in the loop's callback.
        self._greenlet = gevent.spawn(self._ship_forever)

    def _on_cpu_warning(self, **_: Any) -> None:
        self._cpu_warning = True

    def _tick(self) -> None:
        """The timer's callback, in the loop: how late it ran; then the next tick."""
        late_ms = max(0.0, (time.monotonic() - self._armed - TICK_S) * 1000)
        self._histogram.record_corrected_ms(late_ms, TICK_S * 1000)
        if late_ms > self._max_ms:
            self._max_ms = late_ms
        self._armed = time.monotonic()
        self._timer.again(self._tick)

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL)
            self.ship()

    def process_name(self) -> str:
        """``local``, ``master`` or ``worker-N`` (the index the master assigned)."""
        # Not imported here (importing Locust patches the process); without it, no runner
        # of Locust's runs.
        runners = sys.modules.get("locust.runners")
        runner = self.environment.runner
        if runners is not None and isinstance(runner, runners.WorkerRunner):
            return f"worker-{getattr(runner, 'worker_index', 0)}"
        return "master" if runners is not None and isinstance(runner, runners.MasterRunner) \
            else "local"

    def ship(self) -> None:
        """Send the current window (if it holds a tick) and start the next."""
        runner = self.environment.runner
        if runner is None or self._histogram.count == 0:
            return
        window = {
            "process": self.process_name(),
            "t0": round(self._started, 3),
            "t1": round(time.time(), 3),
            "max_ms": round(self._max_ms, 3),
            "count": self._histogram.count,
            "histogram": self._histogram.encode(),
            "cpu_percent": float(getattr(runner, "current_cpu_usage", 0.0) or 0.0),
            "cpu_warning": self._cpu_warning,
        }
        self._new_window()
        if self._file is not None:
            # The writer itself (a master's send_message would go to its workers).
            self._write(window)
        else:
            runner.send_message(MESSAGE_TYPE, window)

    def _write_window(self, msg: Any, **_: Any) -> None:
        if isinstance(msg.data, dict):
            self._write(msg.data)

    def _write(self, window: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(window) + "\n")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
            self._timer = None
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self.ship()
        if self._file is not None:
            self._file.close()
            self._file = None
