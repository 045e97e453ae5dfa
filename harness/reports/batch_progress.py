"""Progress of a batch of runs (a scale bench, a sweep, ``matrix --repeat``): counts and time left.

One plain line per finished run, e.g.::

    [scale 3/<=9] 400 members: held, join p99 88 ms  (3 runs in 2m05s; about 4m10s left)

The count is the runs finished over the runs planned (``<=`` where the batch may stop early,
as a bisection or a step-up does). Time left is the mean time of a finished run times the
runs still planned, capped by a time budget where the batch has one. Lines, not a redrawn
screen, so CI logs read well too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["BatchProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short and whole."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class BatchProgress:
    """Counts the runs of one batch and prints a line after each.

    Args:
        label: What the batch is (``scale``, ``sweep naive``, ``matrix``).
        planned: Runs planned in all (an upper bound when ``at_most``).
        at_most: The batch may stop before ``planned`` runs.
        budget_s: The batch starts no run after this many seconds; ``None``: no budget.
        stream: Where the lines go (default stdout, where the batch's other lines go).
        clock: Seconds, monotonic (a test may pass its own).
    """

    def __init__(self, label: str, planned: int, *, at_most: bool = False,
                 budget_s: float | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.planned = max(1, planned)
        self.at_most = at_most
        self.budget_s = budget_s
        self.stream = stream
        self.clock = clock
        self.finished = 0
        self._began = clock()

    def elapsed_s(self) -> float:
        return self.clock() - self._began

    def left_s(self) -> float:
        """Time the runs still planned should take: the mean run so far times their count,
        at most what the budget leaves (plus one run, which the budget lets finish)."""
        if self.finished == 0:
            return float("nan")
        elapsed = self.elapsed_s()
        mean = elapsed / self.finished
        left = mean * max(0, self.planned - self.finished)
        if self.budget_s is not None:
            left = min(left, max(0.0, self.budget_s - elapsed) + mean)
        return left

    def line(self, what: str) -> str:
        """The line for the run just finished (``what``: its outcome in a few words)."""
        bound = "<=" if self.at_most else ""
        runs = "run" if self.finished == 1 else "runs"
        left = self.left_s()
        left_text = ("" if self.finished >= self.planned or left != left  # NaN: nothing yet
                     else f"; about {format_duration(left)} left")
        return (f"[{self.label} {self.finished}/{bound}{self.planned}] {what}  "
                f"({self.finished} {runs} in {format_duration(self.elapsed_s())}{left_text})")

    def run_finished(self, what: str) -> None:
        """Count one more finished run and print its line."""
        self.finished += 1
        self.planned = max(self.planned, self.finished)
        print(self.line(what), file=self.stream if self.stream is not None else sys.stdout,
              flush=True)
