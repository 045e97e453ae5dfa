"""The interface every threshold kind implements, and helpers they share.

A threshold kind is one module that exposes a :class:`ThresholdKind`: the leading words
(``heads``) of the subjects it understands and a ``parse`` function turning a subject such as
``join[fast].p99`` into a :class:`Metric`. A metric converts the limit written in a check to its
own unit and measures itself from :class:`~harness.measure.measurements.Measurements`.

The shapes several kinds share are written once here: :class:`HeadStatistic` (a subject
``HEAD.STAT``), :class:`PlainNumber` (no unit) and :func:`ratio_limit` (a fraction or a
percentage); sampled series have theirs in :mod:`harness.thresholds.sampled_stat`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from harness.measure.measurements import Measurements, Sample


@dataclass(frozen=True)
class Measured:
    """What a metric measured.

    Attributes:
        value: The measured value in the metric's unit; None when there was not enough data.
        samples: How many samples the value is based on.
        reason: Why ``value`` is None (e.g. ``"join[fast].p99 has 3 samples, needs 20"``).
    """

    value: float | None
    samples: int
    reason: str | None = None


class Metric(Protocol):
    """One measurable subject of a check, e.g. ``join[fast].p99``.

    Implementations must be frozen dataclasses (hashable, comparable) and ``measure`` must be
    pure and cheap: it is called live during a run as well as for the final verdict.

    A metric read from the target itself (its lock reports, its ``/metrics``, its process)
    sets the class attribute ``at_target = True``: the load generator's own lag cannot break
    it, so an overloaded generator does not excuse it (harness.checker.verdict). Others leave it
    out.
    """

    @property
    def subject(self) -> str:
        """Canonical subject text, e.g. ``join[all].p99`` for ``join.p99``."""
        ...

    @property
    def unit(self) -> str:
        """Unit of measured values and limits, e.g. ``"ms"``; ``""`` for plain numbers."""
        ...

    def limit_from(self, number: float, unit: str | None) -> float:
        """Convert a check's limit (number and unit as written) to this metric's unit.

        Raises:
            ValueError: the unit does not fit this metric (message says which units do).
        """
        ...

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """Measure the subject; value None with a reason if fewer than ``min_samples``."""
        ...


@runtime_checkable
class SampledMetric(Protocol):
    """A metric judged on a series the harness samples during the run (harness.measure.sampler).

    ``series_name`` tells the sampler what to sample: ``metric[SELECTOR]``, ``rss`` or
    ``threads`` (see :mod:`harness.measure.series`).
    """

    @property
    def series_name(self) -> str:
        ...


EVERY_OPERATION = "operation"
"""What :attr:`ObservesOperations.observed` says of a metric measured on every operation."""


@runtime_checkable
class ObservesOperations(Protocol):
    """A metric measured on the members' operations (their samples).

    ``observes`` says which samples it is measured on, success or not; ``observed`` names them
    for a person (``join[fast]``, :data:`EVERY_OPERATION`). The verdict uses both to tell a
    target that was never tested (not one of those operations succeeded, harness.checker.not_tested)
    from one that failed a check.
    """

    @property
    def observed(self) -> str:
        ...

    def observes(self, sample: Sample) -> bool:
        ...


@dataclass(frozen=True)
class ThresholdKind:
    """One registered threshold kind.

    Attributes:
        name: Registry name of the kind.
        heads: Leading words of the subjects this kind handles (``join``, ``lock_reports``...).
        syntax: One-line syntax of its subjects, shown in error messages.
        parse: Turns a subject whose head is in ``heads`` into a metric; raises ValueError with
            a one-line message if the rest of the subject is malformed.
        claims: For a kind that shares a head with another (``deliver.lost`` and
            ``deliver[fast].p99``): which of that head's subjects are its own; for those it
            wins over a kind without ``claims``.
    """

    name: str
    heads: tuple[str, ...]
    syntax: str
    parse: Callable[[str], Metric]
    claims: Callable[[str], bool] | None = None

    def matches(self, subject: str) -> bool:
        """True when ``subject`` starts with one of this kind's heads (and it claims it)."""
        return subject_head(subject) in self.heads and (
            self.claims is None or self.claims(subject))


_HEAD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def subject_head(subject: str) -> str:
    """The leading word of a subject: ``join`` for ``join[fast].p99``; ``""`` if none."""
    match = _HEAD_PATTERN.match(subject)
    return match.group(0) if match else ""


def format_number(value: float) -> str:
    """``value`` for humans: whole numbers without decimals, others to about 4 digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def not_enough_load(measurements: Measurements, min_samples: int, subject: str) -> Measured | None:
    """A no-data result when the run recorded fewer than ``min_samples`` samples in total.

    Count-like metrics (lock reports, errors) would trivially hold on a run that produced no
    load; they call this first so such a run is an ERROR instead of a PASS. Returns None when
    there is enough load to judge.
    """
    return too_few_samples(subject, len(measurements.samples), min_samples)


def too_few_samples(subject: str, count: int, min_samples: int, counted: str = "samples",
                    note: str = "") -> Measured | None:
    """A no-data result for ``subject`` if ``count`` is below ``min_samples`` (at least 1).

    ``counted`` names what was counted in the reason (``"messages received"``), ``note``
    follows it. Returns None when there are enough samples.
    """
    needed = max(min_samples, 1)
    if count >= needed:
        return None
    return Measured(value=None, samples=count,
                    reason=f"{subject} has {count} {counted}, needs {needed}{note}")


def statistic_after(head: str, subject: str) -> str:
    """What follows ``head.`` in ``subject`` (``count`` of ``errors.count``); ``""`` when
    ``subject`` does not start with ``head.``."""
    return subject[len(head) + 1:] if subject.startswith(head + ".") else ""


def require_no_unit(subject: str, unit: str | None) -> None:
    """Raise ValueError when a plain-number subject was given a unit."""
    if unit is not None:
        raise ValueError(f"{subject} is a plain number; drop the unit {unit!r}")


def ratio_limit(subject: str, number: float, unit: str | None) -> float:
    """A ratio's limit as a fraction: as written (0..1), or a percentage (0..100%) divided by
    100; any other unit, or a number out of range, is a ValueError saying what to write."""
    if unit == "%":
        if number > 100:
            raise ValueError(f"{subject} limit {number}% is above 100%")
        return number / 100
    if unit is not None:
        raise ValueError(f"{subject} takes a fraction or a percentage; drop {unit!r}")
    if number > 1:
        raise ValueError(
            f"{subject} is a fraction from 0 to 1; write e.g. 0.01 or 1% "
            f"(did you mean {number:g}%?)"
        )
    return number


@dataclass(frozen=True)
class HeadStatistic:
    """For metrics whose subject is the kind's head and a statistic: ``HEAD.STAT``
    (``errors.ratio``, ``deliver.lost``). Subclass it as a frozen dataclass setting ``head``."""

    head: ClassVar[str]
    statistic: str

    @property
    def subject(self) -> str:
        """``HEAD.STAT``."""
        return f"{self.head}.{self.statistic}"


class PlainNumber:
    """For metrics whose values are plain numbers (counts, gauges): no unit, and a limit
    written with one is an error. Mix it into a frozen dataclass that has ``subject``."""

    @property
    def subject(self) -> str:
        raise NotImplementedError

    @property
    def unit(self) -> str:
        """Plain numbers have no unit."""
        return ""

    def limit_from(self, number: float, unit: str | None) -> float:
        """The limit as written; a unit is an error."""
        require_no_unit(self.subject, unit)
        return number


def pick_statistic(statistic: str, choices: Sequence[str], subject: str, syntax: str,
                   hint_prefix: str = "") -> str:
    """``statistic`` when it is one of ``choices``; else ValueError suggesting the closest
    (written as ``hint_prefix`` + choice) and the kind's ``syntax``."""
    if statistic in choices:
        return statistic
    suggestion = difflib.get_close_matches(statistic, choices, n=1)
    hint = f"did you mean '{hint_prefix}{suggestion[0]}'? " if suggestion else ""
    raise ValueError(f"cannot read subject '{subject}'; {hint}write {syntax}")
