"""The search of a sensitivity sweep: bisection for a floor or a ceiling over a latency grid.

* **floor** (default for ``naive``, which must FAIL): the smallest latency in ``[LO, HI]`` at
  which the mode FAILs N times out of N. HI is run first (if it does not FAIL N/N there is
  no floor in range), then LO (if it already FAILs N/N, the floor is LO), then the bracket is
  halved until it is no wider than the resolution.
* **ceiling** (default for ``spawn`` and ``fixed``, which must PASS): the largest latency at
  which the mode PASSes N/N. LO first (if it does not PASS N/N there is no ceiling in range),
  then HI (if it PASSes N/N, the ceiling is HI), then bisection.

The direction comes from the mode's expectation, not from the verdicts at the ends: it
costs no runs, and the answer always means the same thing for a mode (``--find`` overrides
it). Monotonicity is assumed: once a mode FAILs N/N at some latency, it does so at every
higher one. Bisection never tests that, so a non-monotonic mode gets *a* boundary, not
necessarily the smallest.

A point whose runs disagree (MIXED) counts as "not N/N" either way. A run that ends in ERROR
makes its point inconclusive: the search stops there (the point's remaining runs are not
started) and reports what it knew so far.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.rig.rig import Interrupted
from harness.scenario import Scenario
from harness.sweep.axis import format_ms, grid_size, grid_value, scenario_at_latency
from harness.sweep.points import Point, RunRecord
from harness.target import EXPECTED_VERDICTS

Find = Literal["floor", "ceiling"]
AnswerStatus = Literal["found", "none_in_range", "inconclusive", "interrupted"]
#: Which verdict a point must have N/N for the property sought to hold there.
TARGET_VERDICT: dict[str, str] = {"floor": "FAIL", "ceiling": "PASS"}
#: Default direction per mode, from its expectation in the slow-member matrix.
DEFAULT_FIND: dict[str, Find] = {
    mode: "floor" if verdict == "FAIL" else "ceiling" for mode, verdict in EXPECTED_VERDICTS.items()
}

RunOnce = Callable[[Scenario, str], RunRecord]
"""Runs the scenario (already set to the point's latency) once as run folder ``name``.

Raises :class:`SweepInterrupted` (with the run's record) when a signal stopped the run."""
RunCallback = Callable[["SweepResult", Point], None]
"""Called after each run with the result so far and the point as far as it has run (its
last run is the one just finished)."""


class SweepInterrupted(Interrupted):
    """A signal stopped a run of the sweep; ``record`` is that run's (ERROR) record."""

    def __init__(self, signum: int, record: RunRecord | None = None) -> None:
        super().__init__(signum)
        self.record = record


@dataclass(frozen=True)
class SweepPlan:
    """What to search.

    Attributes:
        scenario: The scenario as loaded (its latency faults are overridden per point).
        mode: The reference server mode.
        find: ``floor`` or ``ceiling`` (see the module docstring).
        low_ms: LO of the range.
        high_ms: HI of the range (> LO).
        resolution_ms: The search stops when the bracket is no wider than this.
        repeat: Runs per point (N).
        max_runs: The most runs the sweep may start; None: the search's own worst case.
    """

    scenario: Scenario
    mode: str
    find: Find
    low_ms: int
    high_ms: int
    resolution_ms: int
    repeat: int
    max_runs: int | None = None

    @property
    def target_verdict(self) -> str:
        """``FAIL`` for a floor, ``PASS`` for a ceiling."""
        return TARGET_VERDICT[self.find]

    @property
    def max_points(self) -> int:
        """The most points the search can need: both ends plus the bisection steps."""
        intervals = grid_size(self.low_ms, self.high_ms, self.resolution_ms)
        return 2 + (math.ceil(math.log2(intervals)) if intervals > 1 else 0)

    @property
    def run_budget(self) -> int:
        """``max_runs``, or the worst case of the search (``max_points * repeat``)."""
        worst = self.max_points * self.repeat
        return worst if self.max_runs is None else min(self.max_runs, worst)


@dataclass(frozen=True)
class Answer:
    """What the search found.

    Attributes:
        status: ``found``; ``none_in_range`` (the property does not hold at the end where it
            must: no floor or no ceiling in range); ``inconclusive`` (a run ended in ERROR);
            ``interrupted`` (a signal).
        value_ms: The floor or ceiling when found, else None.
        bracket_ms: ``(lower, upper)``: the latencies on either side of the boundary that the
            search ran (one holds, the other not), None when an end decided it.
        message: One line for people.
        interrupted_by: The signal number when interrupted, else None.
    """

    status: AnswerStatus
    value_ms: int | None
    bracket_ms: tuple[int, int] | None
    message: str
    interrupted_by: int | None = None

    @property
    def exit_code(self) -> int:
        """0 found, 1 none in range, 2 inconclusive, 128 + signal when interrupted."""
        if self.status == "interrupted":
            return 128 + (self.interrupted_by or 2)
        return {"found": 0, "none_in_range": 1}.get(self.status, 2)


@dataclass
class SweepResult:
    """The plan, every point run (in latency order), the answer, and how long it took."""

    plan: SweepPlan
    points: list[Point] = field(default_factory=list)
    answer: Answer | None = None
    wall_time_s: float = 0.0

    @property
    def runs_total(self) -> int:
        """How many runs the sweep started."""
        return sum(len(point.runs) for point in self.points)


class _Search:
    """State of one search; :func:`search` is the way in."""

    def __init__(self, plan: SweepPlan, run_once: RunOnce, on_run: RunCallback | None) -> None:
        self.plan = plan
        self.run_once = run_once
        self.on_run = on_run
        self.result = SweepResult(plan)
        self.intervals = grid_size(plan.low_ms, plan.high_ms, plan.resolution_ms)

    def value(self, index: int) -> int:
        return grid_value(index, self.plan.low_ms, self.plan.high_ms, self.plan.resolution_ms)

    def measure(self, index: int) -> Point | None:
        """Run the point at grid ``index`` N times; None when the run budget is spent."""
        plan = self.plan
        if self.result.runs_total + plan.repeat > plan.run_budget:
            return None
        latency_ms = self.value(index)
        scenario = scenario_at_latency(plan.scenario, latency_ms)
        order = len(self.result.points) + 1
        records: list[RunRecord] = []
        try:
            for number in range(1, plan.repeat + 1):
                record = self.run_once(scenario, f"{format_ms(latency_ms)}-{number}")
                records.append(record)
                point = self._keep(Point(latency_ms, order, tuple(records)))
                if self.on_run is not None:
                    self.on_run(self.result, point)
                if record.verdict == "ERROR":
                    break  # inconclusive already: more runs cannot make it conclusive
        except SweepInterrupted as exc:
            if exc.record is not None:  # an interrupted run is kept: it is on disk
                records.append(exc.record)
                self._keep(Point(latency_ms, order, tuple(records)))
            raise
        return Point(latency_ms, order, tuple(records))

    def _keep(self, point: Point) -> Point:
        """Put ``point`` into the result (replacing its shorter self), in latency order."""
        points = [kept for kept in self.result.points if kept.order != point.order]
        self.result.points[:] = sorted([*points, point], key=lambda kept: kept.latency_ms)
        return point

    def holds(self, point: Point) -> bool:
        return point.outcome == self.plan.target_verdict

    def describe(self, point: Point) -> str:
        """``FAIL/FAIL/PASS at 300 ms``; for a point with an ERROR run, also what the first
        one said (the target was not tested, a component broke), so the answer names it."""
        verdicts = [run.verdict for run in point.runs]
        text = f"{'/'.join(verdicts)} at {format_ms(point.latency_ms)}"
        error = next((run for run in point.runs if run.verdict == "ERROR"), None)
        if error is not None and error.message:
            text += f": {error.message.removeprefix('ERROR: ')}"
        return text

    def run(self) -> Answer:
        plan = self.plan
        floor = plan.find == "floor"
        noun, verdict, verb = (("floor", "FAIL", "FAILs") if floor
                               else ("ceiling", "PASS", "PASSes"))
        n_of_n = f"{plan.repeat}/{plan.repeat}"
        inconclusive = "inconclusive: a run ended in ERROR"
        good, bad = (self.intervals, 0) if floor else (0, self.intervals)
        anchor = self.measure(good)
        assert anchor is not None, "the budget always allows both ends"
        if anchor.outcome == "ERROR":
            return Answer("inconclusive", None, None, f"{inconclusive} ({self.describe(anchor)})")
        if not self.holds(anchor):
            end = "HI" if floor else "LO"
            return Answer("none_in_range", None, None,
                          f"no {noun} in range: {plan.mode} does not {verdict} "
                          f"{n_of_n} at {end} ({self.describe(anchor)})")
        far = self.measure(bad)
        assert far is not None, "the budget always allows both ends"
        if far.outcome == "ERROR":
            return Answer("inconclusive", None, None,
                          f"{inconclusive} ({self.describe(far)}); {plan.mode} {verb} "
                          f"{n_of_n} at {format_ms(anchor.latency_ms)}")
        if self.holds(far):
            where = "already at LO" if floor else "up to HI"
            return Answer("found", far.latency_ms, None,
                          f"{noun}: {format_ms(far.latency_ms)} ({plan.mode} {verb} {n_of_n} "
                          f"{where}, across the whole range)")
        budget_note = ""
        while abs(good - bad) > 1:
            middle = (good + bad) // 2
            point = self.measure(middle)
            if point is None:
                budget_note = (f"; --max-runs {plan.max_runs} reached, so the bracket is "
                               f"{self.value(max(good, bad)) - self.value(min(good, bad))} ms "
                               f"wide, not {plan.resolution_ms} ms")
                break
            if point.outcome == "ERROR":
                return Answer("inconclusive", None, self._bracket(good, bad),
                              f"{inconclusive} ({self.describe(point)}); the {noun} is between "
                              f"{format_ms(self.value(min(good, bad)))} and "
                              f"{format_ms(self.value(max(good, bad)))}")
            if self.holds(point):
                good = middle
            else:
                bad = middle
        value = self.value(good)
        return Answer("found", value, self._bracket(good, bad),
                      f"{noun}: {format_ms(value)} ({plan.mode} {verb} {n_of_n} at "
                      f"{format_ms(value)}; {self._describe_index(bad)}; monotonicity "
                      f"assumed){budget_note}")

    def _bracket(self, good: int, bad: int) -> tuple[int, int]:
        return (self.value(min(good, bad)), self.value(max(good, bad)))

    def _describe_index(self, index: int) -> str:
        value = self.value(index)
        point = next(point for point in self.result.points if point.latency_ms == value)
        return self.describe(point)


def search(plan: SweepPlan, run_once: RunOnce, on_run: RunCallback | None = None
           ) -> SweepResult:
    """Run the search of ``plan``; every run goes through ``run_once``.

    Never raises for a signal: :class:`~harness.run.Interrupted` (from a run, or between
    runs) ends the search with an ``interrupted`` answer, keeping the points run so far.
    """
    started = time.monotonic()
    state = _Search(plan, run_once, on_run)
    try:
        answer = state.run()
    except Interrupted as exc:
        answer = Answer("interrupted", None, None,
                        f"interrupted by {signal.Signals(exc.signum).name} after "
                        f"{state.result.runs_total} run(s)", interrupted_by=exc.signum)
    state.result.answer = answer
    state.result.wall_time_s = round(time.monotonic() - started, 1)
    return state.result
