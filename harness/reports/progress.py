"""Live progress of a run: new samples as they are written, one status line.

The status line goes to stderr every couple of seconds: phase, time left, and
each of the scenario's checks as the verdict would judge it now. It is plain lines,
not a redrawn screen, so CI logs read well too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from harness.checker.verdict import evaluate_checks
from harness.measure.inflight import Waiting, describe_waiting
from harness.measure.measurements import Measurements
from harness.scenario import ThresholdSettings
from harness.thresholds import CheckResult

__all__ = ["status_line", "Progress"]


def status_line(
    label: str, phase: str, elapsed_s: float, left_s: float, results: Sequence[CheckResult],
    lag_ms: float | None = None, waiting: Sequence[Waiting] | None = None,
) -> str:
    """One line such as ``[naive] fault  t=9s left 9s  join[fast].p99 812 ms BROKEN ...
    in flight 7 (oldest 6.9 s)``.

    Each check's subject and value as the verdict would measure them right now (from
    :func:`~harness.measure.measurements.live_measurements`): latency corrected for coordinated
    omission, ``n/a`` while a check has too little data, ``BROKEN`` once it is broken.
    """
    figures = "  ".join(
        f"{result.subject} {result.measured_text()}"
        + (" BROKEN" if result.status == "broken" else "")
        for result in results
    )
    lag_text = "" if lag_ms is None else f"  generator lag {lag_ms:.0f} ms"
    waiting_text = "" if waiting is None else f"  {describe_waiting(list(waiting))}"
    return (f"[{label}] {phase:<9} t={elapsed_s:4.0f}s left {max(0.0, left_s):3.0f}s  "
            f"{figures}{waiting_text}{lag_text}")


class Progress:
    """Print a status line at most every ``interval`` seconds."""

    def __init__(self, label: str, interval: float = 2.0, stream: TextIO | None = None,
                 lag_ms: Callable[[], float | None] | None = None) -> None:
        self.label = label
        self.lag_ms = lag_ms  # the generator's worst recent lag, when measured
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self._last = float("-inf")

    def update(self, now: float, phase: str, elapsed_s: float, left_s: float,
               measure: Callable[[], Measurements], thresholds: ThresholdSettings) -> None:
        """Print the line if ``interval`` has passed; only then is ``measure`` called."""
        if now - self._last < self.interval:
            return
        self._last = now
        measurements = measure()
        results = evaluate_checks(thresholds.checks, measurements, thresholds.min_samples)
        lag_ms = self.lag_ms() if self.lag_ms is not None else None
        print(status_line(self.label, phase, elapsed_s, left_s, results, lag_ms,
                          measurements.waiting),
              file=self.stream, flush=True)
