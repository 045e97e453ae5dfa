"""Live progress of a run: new samples as they are written, one status line.

The status line goes to stderr every couple of seconds: phase, time left,
live join p99 of fast members, and lock reports so far. It is plain lines,
not a redrawn screen, so CI logs read well too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .measurements import Sample
from .thresholds.latency import nearest_rank_percentile

__all__ = ["SampleTail", "status_line", "Progress"]


class SampleTail:
    """Read the complete lines appended to a samples file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.malformed = 0

    def read_new(self) -> list[Sample]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # keep a half-written last line for later
        self._offset += end
        samples: list[Sample] = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            try:
                samples.append(Sample.from_dict(json.loads(line)))
            except ValueError:
                self.malformed += 1
        return samples


def status_line(
    label: str, phase: str, elapsed_s: float, left_s: float, samples: list[Sample],
    lock_reports: int, lag_ms: float | None = None,
) -> str:
    """One line such as ``[naive] fault  t=9s left 9s  join[fast] p99 812 ms (n=31)  locks 4``."""
    joins = [s.latency_ms for s in samples if s.op == "join" and s.member_kind == "fast" and s.ok]
    # Raw latency, live: the verdict's join figures are corrected for coordinated omission.
    p99_text = f"{nearest_rank_percentile(sorted(joins), 99):.0f} ms" if joins else "-"
    join_text = f"join[fast] raw p99 {p99_text} (n={len(joins)})"
    errors = sum(1 for s in samples if not s.ok)
    lag_text = "" if lag_ms is None else f"  generator lag {lag_ms:.0f} ms"
    return (f"[{label}] {phase:<9} t={elapsed_s:4.0f}s left {max(0.0, left_s):3.0f}s  "
            f"{join_text}  errors {errors}  lock reports {lock_reports}{lag_text}")


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
               samples: list[Sample], lock_reports: int) -> None:
        if now - self._last < self.interval:
            return
        self._last = now
        lag_ms = self.lag_ms() if self.lag_ms is not None else None
        print(status_line(self.label, phase, elapsed_s, left_s, samples, lock_reports, lag_ms),
              file=self.stream, flush=True)
