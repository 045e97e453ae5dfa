"""Operations in flight, as the Locust processes report them: ``inflight.jsonl``.

Every 0.25 s each Locust process that runs members ships what its operation history
(:mod:`harness.loadgen.history`) holds in flight, and the collecting process appends it as one
JSON line: ``{"time", "process", "waiting": [{"op", "member_kind", "count", "ages_ms":
[...]}], "draining"}`` (``count``: how many wait; ``ages_ms``: their ages at ``time``, the
oldest first, at most :data:`MAX_AGES` per op and member kind; a line without ``count`` counts
its ages); its last line, once the run ended and its unfinished operations were fired, has
``"ended": true``; ``"draining"`` says the process has seen the run's drain (its members start
nothing new). :class:`InFlightTail` keeps each process's latest line. A latency check counts
each waiting operation as a sample of at least its current age (:class:`Waiting`), so a freeze
shows while it happens, not only once it ends.

A tail made with ``record=True`` (the run's) also keeps the time series of what was in flight
over every process (:attr:`InFlightTail.points`), which :meth:`InFlightTail.add_series` puts
among the sampled series as :data:`INFLIGHT_SERIES` (how many) and
:data:`INFLIGHT_OLDEST_SERIES` (the oldest's age in seconds): the pages draw them behind a
broken latency or errors check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measure.series import SampledSeries
from harness.measure.tail import LineTail

__all__ = ["INFLIGHT_OLDEST_SERIES", "INFLIGHT_SERIES", "MAX_AGES",
           "InFlightTail", "Waiting", "describe_waiting"]

#: Ages shipped per op and member kind (the oldest): enough for any percentile that matters.
MAX_AGES = 500
#: Sampled series names: operations in flight over every process, and the oldest's age (s).
INFLIGHT_SERIES = "inflight"
INFLIGHT_OLDEST_SERIES = "inflight_oldest_s"
#: Lines closer together than this (one per process every 0.25 s) make one point.
POINT_SPACING_S = 0.2


@dataclass(frozen=True)
class Waiting:
    """One operation in flight: its op, its member kind, and its age so far (ms)."""

    op: str
    member_kind: str
    age_ms: float


class InFlightTail(LineTail):
    """Follow ``inflight.jsonl``: the latest line of each process."""

    def __init__(self, path: Path, *, record: bool = False) -> None:
        """``record``: keep :attr:`points` (a run does; the web UI, which may follow swarms
        for days, does not)."""
        super().__init__(path)
        self.record = record
        #: Process -> (wall time of its latest line, its waiting operations).
        self.latest: dict[str, tuple[float, list[Waiting]]] = {}
        #: Processes whose history ended the run.
        self.ended: set[str] = set()
        #: Processes whose latest line says they drain.
        self.draining: set[str] = set()
        #: Process -> how many of its operations its latest line says are in flight.
        self._counts: dict[str, int] = {}
        #: ``(time, in flight over every process, oldest age in s)`` after each line read
        #: (lines within :data:`POINT_SPACING_S` of the last point replace it).
        self.points: list[tuple[float, int, float]] = []

    def read_new(self) -> None:
        for raw in self.new_lines():
            try:
                line = json.loads(raw)
                process, stamp = str(line["process"]), float(line["time"])
                waiting = [Waiting(str(item["op"]), str(item["member_kind"]), float(age))
                           for item in line["waiting"] for age in item["ages_ms"]]
                count = sum(int(item.get("count", len(item["ages_ms"])))
                            for item in line["waiting"])
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line we cannot read tells nothing about what waits
            self.latest[process] = (stamp, waiting)
            if self.record and line.get("ended") is not True:  # the end: unfinished, not done
                self._counts[process] = max(count, len(waiting))
                self._add_point(stamp)
            if line.get("draining") is True:
                self.draining.add(process)
            else:
                self.draining.discard(process)
            if line.get("ended") is True:
                self.ended.add(process)

    def _add_point(self, stamp: float) -> None:
        oldest_ms = max((item.age_ms + (stamp - when) * 1000
                         for when, waiting in self.latest.values() for item in waiting),
                        default=0.0)
        point = (stamp, sum(self._counts.values()), round(max(oldest_ms, 0.0) / 1000, 3))
        if self.points and abs(stamp - self.points[-1][0]) < POINT_SPACING_S:
            self.points[-1] = point
        else:
            self.points.append(point)

    def add_series(self, sampled: SampledSeries) -> None:
        """Put :attr:`points` into ``sampled`` as :data:`INFLIGHT_SERIES` and
        :data:`INFLIGHT_OLDEST_SERIES` (nothing when no process reported)."""
        for stamp, count, oldest_s in self.points:
            sampled.add(INFLIGHT_SERIES, stamp, float(count))
            sampled.add(INFLIGHT_OLDEST_SERIES, stamp, oldest_s)

    def current(self, now: float | None = None) -> list[Waiting]:
        """Every operation in flight per its process's latest line, aged to ``now``."""
        now = time.time() if now is None else now
        return [Waiting(item.op, item.member_kind, item.age_ms + max(0.0, now - stamp) * 1000)
                for stamp, waiting in self.latest.values() for item in waiting]

    def all_ended(self) -> bool:
        """Whether every process that reported has ended its run."""
        return bool(self.latest) and set(self.latest) <= self.ended

    def settled(self) -> bool:
        """Whether every process reported that it drains and nothing is in flight."""
        return bool(self.latest) and set(self.latest) <= self.draining and not any(
            waiting for _, waiting in self.latest.values())


def describe_waiting(waiting: list[Waiting]) -> str:
    """``in flight 7 (oldest 6.9 s)``, or ``in flight 0``."""
    if not waiting:
        return "in flight 0"
    return f"in flight {len(waiting)} (oldest {max(item.age_ms for item in waiting) / 1000:.1f} s)"


def waiting_lines(waiting: dict[tuple[str, str], list[float]],
                  counts: dict[tuple[str, str], int] | None = None) -> list[dict[str, Any]]:
    """The ``waiting`` list of one line from ages in ms per (op, member kind); ``counts``:
    how many wait per key where ``waiting`` holds only the oldest (default: its lengths)."""
    counts = counts or {}
    return [{"op": op, "member_kind": kind, "count": counts.get((op, kind), len(ages)),
             "ages_ms": [round(age, 1) for age in sorted(ages, reverse=True)[:MAX_AGES]]}
            for (op, kind), ages in sorted(waiting.items())]
