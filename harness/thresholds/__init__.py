"""Threshold checks: parse ``SUBJECT OP VALUE[UNIT]`` strings and evaluate them.

Grammar (whitespace around OP and before UNIT is optional)::

    check   := SUBJECT OP VALUE [UNIT]
    OP      := "<" | "<=" | ">" | ">=" | "==" | "!="
    VALUE   := non-negative decimal number (e.g. 250, 0.01, 1.5, 2e3)
    UNIT    := "us" | "ms" | "s" | "%"     (which ones are allowed depends on SUBJECT)
             | "B" | "KB" | "MB" | "GB" | "KiB" | "MiB" | "GiB"   (sizes: ``rss``)
             | "x baseline"                (latency subjects: times the warm-up's value,
                                            see :mod:`harness.thresholds.baseline`)

A SUBJECT is one word with optional ``[...]`` parts, which may hold anything but ``]``
(``metric[roomserver_outbox_depth{stat="max"}].max``).

A check *holds* when ``measured OP limit`` is true. Subjects belong to threshold kinds, each a
small module registered in :data:`THRESHOLD_KINDS`; to add one, write
``harness/thresholds/<name>.py`` exposing ``KIND = ThresholdKind(...)`` (see
:mod:`harness.thresholds.base`) and add it to the tuple below.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from harness.measure.measurements import Measurements
from harness.thresholds import errors, latency, lock_reports, metric, order, process
from harness.thresholds.base import (
    Measured,
    Metric,
    SampledMetric,
    ThresholdKind,
    format_number,
    subject_head,
)
from harness.thresholds.baseline import BaselineRelative

THRESHOLD_KINDS: dict[str, ThresholdKind] = {
    kind.name: kind for kind in (latency.KIND, lock_reports.KIND, errors.KIND, metric.KIND,
                                 process.KIND, order.KIND)
}
"""Every known threshold kind, by name."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
"""Comparison operators a check may use, applied as ``measured OP limit``."""

CheckStatus = Literal["holding", "broken", "no_data"]

_CHECK_PATTERN = re.compile(
    r"^\s*(?P<subject>(?:[^\s<>=!\[]|\[[^\]]*\])+)\s*(?P<operator><=|>=|==|!=|<|>)\s*"
    r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z%]+)?\s*$"
)
_EXAMPLE = "'join[fast].p99 < 250ms'"
_BASELINE_SUFFIX = re.compile(r"^(?P<head>.*?\d)\s*x\s*baseline\s*$", re.IGNORECASE)


def sampled_series(checks: Iterable[Check]) -> list[str]:
    """The series the harness must sample during a run for ``checks``, in check order."""
    names = [check.metric.series_name for check in checks
             if isinstance(check.metric, SampledMetric)]
    return list(dict.fromkeys(names))


def valid_subjects() -> str:
    """One line listing the subject syntax of every registered threshold kind."""
    return "; ".join(kind.syntax for kind in THRESHOLD_KINDS.values())


@dataclass(frozen=True)
class CheckResult:
    """The outcome of evaluating one check against measurements.

    Attributes:
        check: The check as written in the scenario.
        subject: Canonical subject, e.g. ``join[fast].p99``.
        operator: Comparison operator.
        limit: The limit, in ``unit``.
        measured: The measured value in ``unit``, None when there was not enough data.
        unit: Unit of ``limit`` and ``measured`` (``"ms"``, or ``""`` for plain numbers).
        status: ``holding`` (measured OP limit is true), ``broken`` or ``no_data``.
        samples: How many samples the measured value is based on.
        reason: Why there is no data, when ``status`` is ``no_data``.
        at_target: The metric is read from the target itself (``Metric.at_target``), so a
            lagging load generator cannot have broken it.
    """

    check: str
    subject: str
    operator: str
    limit: float
    measured: float | None
    unit: str
    status: CheckStatus
    samples: int
    reason: str | None = None
    at_target: bool = False

    def limit_text(self) -> str:
        """``"< 250 ms"``: the operator and the limit with its unit."""
        return f"{self.operator} {_with_unit(self.limit, self.unit)}"

    def measured_text(self) -> str:
        """``"812 ms"``, or ``"n/a"`` when nothing was measured."""
        return "n/a" if self.measured is None else _with_unit(self.measured, self.unit)

    def describe(self) -> str:
        """``"join[fast].p99 = 812 ms (limit < 250 ms)"``, or the no-data reason.

        A baseline-relative check also says what it compared:
        ``"join[fast].p99 = 4.1x baseline (limit < 3x baseline; 612 ms against ...)"``.
        """
        if self.measured is None:
            return self.reason or f"{self.subject} has no data"
        detail = f"; {self.reason}" if self.reason else ""
        return f"{self.subject} = {self.measured_text()} (limit {self.limit_text()}{detail})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {
            "check": self.check,
            "subject": self.subject,
            "operator": self.operator,
            "limit": self.limit,
            "measured": self.measured,
            "unit": self.unit,
            "status": self.status,
            "samples": self.samples,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Check:
    """A parsed threshold check.

    Attributes:
        text: The check as written (surrounding whitespace removed).
        metric: What is measured.
        operator: One of :data:`OPERATORS`.
        limit: The limit, converted to ``metric.unit`` (e.g. ``1s`` -> ``1000`` ms).
    """

    text: str
    metric: Metric
    operator: str
    limit: float

    @property
    def subject(self) -> str:
        """Canonical subject of the metric."""
        return self.metric.subject

    @property
    def canonical(self) -> str:
        """Normalised text, e.g. ``join[all].p99 < 1000 ms`` for ``join.p99<1s``."""
        return f"{self.subject} {self.operator} {_with_unit(self.limit, self.metric.unit)}"

    def evaluate(self, measurements: Measurements, min_samples: int) -> CheckResult:
        """Measure the metric and compare it with the limit.

        Pure and cheap enough to call repeatedly during a run.
        """
        measured: Measured = self.metric.measure(measurements, min_samples)
        status: CheckStatus
        if measured.value is None:
            status = "no_data"
        elif OPERATORS[self.operator](measured.value, self.limit):
            status = "holding"
        else:
            status = "broken"
        return CheckResult(
            check=self.text,
            subject=self.subject,
            operator=self.operator,
            limit=self.limit,
            measured=measured.value,
            unit=self.metric.unit,
            status=status,
            samples=measured.samples,
            reason=measured.reason,
            at_target=getattr(self.metric, "at_target", False),
        )


def parse_check(text: str) -> Check:
    """Parse a check string such as ``"join[fast].p99 < 250ms"``.

    Raises:
        ValueError: one-line message saying what is wrong, listing valid subjects or units.
    """
    if not isinstance(text, str):
        raise ValueError(f"a check must be a string like {_EXAMPLE}, got {text!r}")
    relative = _BASELINE_SUFFIX.match(text)
    match = _CHECK_PATTERN.match(relative["head"] if relative else text)
    if match is None:
        raise ValueError(_grammar_problem(text))
    subject = match["subject"]
    matching = [kind for kind in THRESHOLD_KINDS.values() if kind.matches(subject)]
    # A kind that claims some subjects of a shared head wins over the head's general kind.
    kind = next((kind for kind in matching if kind.claims is not None),
                matching[0] if matching else None)
    if kind is None:
        raise ValueError(_unknown_subject_problem(text, subject))
    try:
        metric = kind.parse(subject)
        if relative:
            if match["unit"] is not None or metric.unit != "ms":
                raise ValueError(
                    "'x baseline' takes a plain factor and a latency subject, "
                    "e.g. 'join[fast].p99 < 3x baseline'"
                )
            metric = BaselineRelative(metric)
        limit = metric.limit_from(float(match["number"]), match["unit"])
    except ValueError as problem:
        raise ValueError(f"check '{text.strip()}': {problem}") from None
    return Check(text=text.strip(), metric=metric, operator=match["operator"], limit=limit)


def _grammar_problem(text: str) -> str:
    """Explain why ``text`` does not fit ``SUBJECT OP VALUE[UNIT]``."""
    stripped = text.strip()
    hint = ""
    if re.search(r"(?<![<>=!])=(?!=)", stripped):
        hint = "; use '==' for equality, not '='"
    elif re.search(r"(<|>|=)\s*-", stripped):
        hint = "; limits cannot be negative"
    return (
        f"cannot read check '{stripped}': expected SUBJECT OP VALUE[UNIT] such as {_EXAMPLE}, "
        f"with OP one of {' '.join(OPERATORS)} and UNIT one of us, ms, s, % or 'x baseline'{hint}"
    )


def _unknown_subject_problem(text: str, subject: str) -> str:
    """Explain that no threshold kind knows ``subject``, suggesting the closest one."""
    heads = [head for kind in THRESHOLD_KINDS.values() for head in kind.heads]
    suggestion = difflib.get_close_matches(subject_head(subject), heads, n=1)
    hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
    return (
        f"unknown subject '{subject}' in check '{text.strip()}'; {hint}"
        f"valid subjects: {valid_subjects()}"
    )


def _with_unit(value: float, unit: str) -> str:
    """``"250 ms"``, ``"7"``, or ``"3x baseline"``."""
    if unit == "x":
        return f"{format_number(value)}x baseline"
    return f"{format_number(value)} {unit}" if unit else format_number(value)


__all__ = [
    "OPERATORS",
    "THRESHOLD_KINDS",
    "Check",
    "CheckResult",
    "CheckStatus",
    "Measured",
    "Metric",
    "ThresholdKind",
    "parse_check",
    "sampled_series",
    "valid_subjects",
]
