"""What a benchmark returns: :class:`BenchResult`, made of :class:`Row` figures.

A row is one measured figure (the median of its rounds), optionally next to the
baseline or ceiling it is compared with, the ratio between the two, and a goal
on that ratio. Nothing here measures; the benchmark modules fill these in.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BenchResult", "Row", "best_ratio", "median", "paired_ratio", "ratio"]


def median(values: Sequence[float]) -> float:
    """The median of ``values``; raises ``ValueError`` if there are none."""
    if not values:
        raise ValueError("no values to take a median of")
    return float(statistics.median(values))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or ``None`` when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def paired_ratio(values: Sequence[float], baselines: Sequence[float]) -> float | None:
    """Median of the per-round ratios ``values[i] / baselines[i]``.

    Each pair was measured close together, so drift in the machine's load cancels
    out; on a noisy machine this can differ from the ratio of the two medians.
    """
    ratios = [value / base for value, base in zip(values, baselines, strict=False) if base > 0]
    return median(ratios) if ratios else None


def best_ratio(values: Sequence[float], baselines: Sequence[float],
               higher_is_better: bool) -> float | None:
    """Ratio of the best round of each (the least disturbed by other load): a cross-check."""
    if not values or not baselines:
        return None
    pick = max if higher_is_better else min
    return ratio(pick(values), pick(baselines))


@dataclass
class Row:
    """One figure of a benchmark.

    Attributes:
        case: What was measured, e.g. ``"aio.Lock"``.
        value: The figure (median over ``rounds``), ``None`` if it could not be measured.
        unit: Unit of ``value`` and ``baseline_value``, e.g. ``"ns/op"``, ``"msg/s"``.
        rounds: The figure of each round, in the order measured.
        baseline: Name of what ``value`` is compared with, if anything.
        baseline_value: Its figure, measured in the same run.
        ratio: How ``value`` compares with ``baseline_value``: the median of the
            per-round ratios (see :func:`paired_ratio`).
        goal: The goal on ``ratio`` or ``value``, as text (``"<= 1.5x"``).
        met: Whether the goal holds; ``None`` without a goal or a figure.
    """

    case: str
    value: float | None
    unit: str
    rounds: list[float] = field(default_factory=list)
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    goal: str | None = None
    met: bool | None = None

    def check(self, goal: str, holds: Callable[[float], bool], on_ratio: bool = True) -> Row:
        """Set ``goal`` and ``met`` from ``holds(ratio)`` (or ``holds(value)``); return self."""
        self.goal = goal
        subject = self.ratio if on_ratio else self.value
        self.met = None if subject is None else bool(holds(subject))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "value": self.value,
            "unit": self.unit,
            "rounds": list(self.rounds),
            "baseline": self.baseline,
            "baseline_value": self.baseline_value,
            "ratio": self.ratio,
            "goal": self.goal,
            "met": self.met,
        }


@dataclass
class BenchResult:
    """Everything one benchmark measured.

    Attributes:
        name: Short name used by ``--only`` (``"lockwatch"``, ``"fanout"``, ...).
        title: One line saying what is measured.
        rows: The figures.
        params: The settings it ran with (sizes, durations, rounds).
        details: Supporting data: CPU shares, errors, per-step figures.
        notes: Plain-language remarks (a missed goal, a likely bottleneck).
        error: Set when the benchmark could not run to the end; rows may be partial.
        elapsed_s: Wall time the benchmark took.
        has_goal: ``False`` when the rows' goals are only per-step criteria (the
            benchmark searches for a figure and has no goal of its own).
    """

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    has_goal: bool = True

    @property
    def goals_met(self) -> bool | None:
        """``True`` if every goal holds, ``False`` if one does not, ``None`` if none applies."""
        if not self.has_goal:
            return None
        verdicts = [row.met for row in self.rows if row.goal is not None and row.met is not None]
        return None if not verdicts else all(verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "goals_met": self.goals_met,
            "rows": [row.to_dict() for row in self.rows],
            "params": dict(self.params),
            "details": dict(self.details),
            "notes": list(self.notes),
            "error": self.error,
            "elapsed_s": round(self.elapsed_s, 2),
        }
