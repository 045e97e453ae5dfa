"""Threshold kind ``process``: the target process's memory and threads, sampled during the run.

Subjects: ``rss.STAT`` (resident set size, in MB of 10^6 bytes; limits take B, KB, MB, GB,
or KiB, MiB, GiB) and ``threads.STAT`` (thread count, plain numbers), with STAT ``max``,
``min``, ``last`` or ``growth`` (last minus first) over the samples the harness took every
0.5 s with psutil (:mod:`harness.measure.sampler`), e.g. ``rss.growth < 50MB``, ``threads.max <
50``.

Only a target the harness started has a process to read (its pid comes from the rig). For an
external ``--target-url`` these checks have no data and the verdict is ERROR, never PASS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.measure.series import RSS_SERIES, THREADS_SERIES
from harness.thresholds.base import ThresholdKind, require_no_unit
from harness.thresholds.sampled_stat import STATISTICS, SeriesStatistic, parse_statistic

#: Bytes per unit a limit on ``rss`` may be written in.
BYTE_UNITS: dict[str, float] = {
    "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3,
}
SERIES = {"rss": RSS_SERIES, "threads": THREADS_SERIES}
SYNTAX = f"rss.{'|'.join(STATISTICS)} (MB) or threads.{'|'.join(STATISTICS)}"

_SUBJECT_PATTERN = re.compile(r"^(?P<head>rss|threads)\.(?P<statistic>[A-Za-z_]+)$")


@dataclass(frozen=True)
class ProcessMetric(SeriesStatistic):
    """A statistic of the target process's RSS (``rss``, MB) or thread count (``threads``)."""

    head: str

    @property
    def series_name(self) -> str:
        """``rss`` or ``threads``: the sampled series this metric reads."""
        return SERIES[self.head]

    @property
    def scale(self) -> float:
        """RSS is sampled in bytes and judged in MB."""
        return BYTE_UNITS["MB"] if self.head == "rss" else 1.0

    @property
    def unit(self) -> str:
        """``MB`` for RSS, none for threads."""
        return "MB" if self.head == "rss" else ""

    def limit_from(self, number: float, unit: str | None) -> float:
        """Threads take no unit; RSS needs a byte unit, converted to MB."""
        if self.head == "threads":
            require_no_unit(self.subject, unit)
            return number
        if unit not in BYTE_UNITS:
            written = "no unit" if unit is None else f"unit {unit!r}"
            raise ValueError(f"{self.subject} is a size; its limit needs a unit "
                             f"{', '.join(BYTE_UNITS)} (got {written}), e.g. "
                             f"'{self.subject} < 50MB'")
        return number * BYTE_UNITS[unit] / BYTE_UNITS["MB"]


def parse(subject: str) -> ProcessMetric:
    """Parse ``rss.STAT`` or ``threads.STAT``.

    Raises:
        ValueError: anything else after ``rss`` or ``threads``.
    """
    match = _SUBJECT_PATTERN.match(subject)
    if match is None:
        raise ValueError(f"cannot read subject '{subject}'; write {SYNTAX}")
    return ProcessMetric(parse_statistic(match["statistic"], subject, SYNTAX), match["head"])


KIND = ThresholdKind(name="process", heads=tuple(SERIES), syntax=SYNTAX, parse=parse)
