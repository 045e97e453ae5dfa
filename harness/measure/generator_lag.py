"""The load generator's own health during a run, read back from the lag probes' windows.

Every Locust process measures how late a 10 ms sleep wakes up (see
:mod:`harness.loadgen.lag`); the master appends one JSON line per process and second to
``lag.jsonl``. Here those windows become figures: per process, the lag percentiles over the
run (corrected for coordinated omission, so a 2 s freeze weighs as 2 s of lag), and the worst
process's p99, which the verdict compares with ``[thresholds] max_generator_lag``: a broken
check while the generator itself lagged past it is ERROR "load generator overloaded", not a
FAIL blamed on the target.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measure.hdr import LatencyHistogram
from harness.measure.tail import LineTail

__all__ = ["GeneratorLag", "LagTail", "LagWindow", "read_lag_file"]



@dataclass(frozen=True)
class LagWindow:
    """About one second of one process: wall-clock span, worst lag, encoded histogram."""

    process: str
    t0: float
    t1: float
    max_ms: float
    histogram: str
    cpu_percent: float = 0.0
    cpu_warning: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> LagWindow:
        """Raises ValueError on anything that is not a window line."""
        if not isinstance(data, dict):
            raise ValueError("a lag window must be a JSON object")
        try:
            window = cls(str(data["process"]), float(data["t0"]), float(data["t1"]),
                         float(data["max_ms"]), str(data["histogram"]),
                         float(data.get("cpu_percent") or 0.0), bool(data.get("cpu_warning")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a lag window lacks a field: {exc}") from None
        if not all(math.isfinite(value) for value in (window.t0, window.t1, window.max_ms)):
            raise ValueError("a lag window has a non-finite number")
        return window


@dataclass(frozen=True)
class ProcessLag:
    """One Locust process over the run: lag percentiles (ms) and its CPU signals."""

    process: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_cpu_percent: float
    cpu_warning: bool

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "max_ms": self.max_ms, "max_cpu_percent": self.max_cpu_percent,
                "cpu_warning": self.cpu_warning}


@dataclass(frozen=True)
class GeneratorLag:
    """Every lag window of a run, in arrival order."""

    windows: tuple[LagWindow, ...] = ()

    def within(self, start: float, end: float) -> GeneratorLag:
        """Only the windows that overlap ``[start, end]`` (the run's load phase)."""
        return GeneratorLag(tuple(w for w in self.windows if w.t1 >= start and w.t0 <= end))

    def per_process(self) -> dict[str, ProcessLag]:
        """Lag of each process, from its merged windows; sorted by process name."""
        merged: dict[str, LatencyHistogram] = {}
        cpu: dict[str, float] = {}
        warned: dict[str, bool] = {}
        for window in self.windows:
            histogram = merged.setdefault(window.process, LatencyHistogram())
            histogram.merge(LatencyHistogram.decode(window.histogram))
            cpu[window.process] = max(cpu.get(window.process, 0.0), window.cpu_percent)
            warned[window.process] = warned.get(window.process, False) or window.cpu_warning
        return {
            name: ProcessLag(name, histogram.count, histogram.percentile_ms(50),
                             histogram.percentile_ms(99), histogram.max_ms(), cpu[name],
                             warned[name])
            for name, histogram in sorted(merged.items()) if histogram.count
        }

    def worst(self) -> ProcessLag | None:
        """The process with the highest lag p99, None without any window."""
        processes = self.per_process().values()
        return max(processes, key=lambda lag: lag.p99_ms, default=None)

    def recent_max_ms(self, now: float, span_s: float = 10.0) -> float | None:
        """The worst lag of any process in the windows that ended in the last ``span_s``."""
        recent = [w.max_ms for w in self.windows if w.t1 >= now - span_s]
        return max(recent) if recent else None

    def summary(self, limit_ms: float) -> dict[str, Any]:
        """``measured.generator_lag`` of result.json (figures in ms)."""
        worst = self.worst()
        processes = self.per_process()
        return {
            "p99_ms": worst.p99_ms if worst else None,
            "max_ms": max((p.max_ms for p in processes.values()), default=None),
            "worst_process": worst.process if worst else None,
            "limit_ms": limit_ms,
            "over_limit": bool(worst and worst.p99_ms > limit_ms),
            "cpu_warning": any(p.cpu_warning for p in processes.values()),
            "processes": {name: lag.to_dict() for name, lag in processes.items()},
        }


def read_lag_file(path: Path) -> GeneratorLag | None:
    """The windows of a lag file; None when there is no file (nothing was measured).

    A half-written last line is left out. Raises ValueError on any other bad line.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    complete = text[: text.rfind("\n") + 1]
    windows = []
    for number, line in enumerate(complete.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            windows.append(LagWindow.from_dict(json.loads(line)))
        except ValueError as exc:
            raise ValueError(f"{path} line {number}: {exc}") from None
    return GeneratorLag(tuple(windows))


class LagTail(LineTail):
    """The windows appended to a lag file, read line by line as it grows, for the progress
    line: only those of the last ``span_s`` seconds are kept. A bad line is skipped (the final
    read, :func:`read_lag_file`, names it).
    """

    def __init__(self, path: Path, span_s: float = 10.0) -> None:
        super().__init__(path)
        self.span_s = span_s
        self.windows: list[LagWindow] = []

    def recent_max_ms(self, now: float) -> float | None:
        """The worst lag of any process in the windows that ended in the last ``span_s``;
        None when there are none (not measured, or not yet)."""
        for line in self.new_lines():
            try:
                self.windows.append(LagWindow.from_dict(json.loads(line)))
            except ValueError:
                continue
        self.windows = [window for window in self.windows if window.t1 >= now - self.span_s]
        return GeneratorLag(tuple(self.windows)).recent_max_ms(now, self.span_s)
