"""Threshold kind ``order``: messages that arrived out of order, twice, or not at all.

Subjects: ``deliver.reordered``, ``deliver.lost`` and ``deliver.duplicated``, counts over
every receiving member of the run (plain numbers, no unit), e.g. ``deliver.reordered == 0``
and ``deliver.lost == 0``. The load generator measures them from ``seq`` where the protocol
numbers each member's messages, else from each sender's own counter carried in its message
ids; what counts as reordered, duplicated and lost is defined in
:mod:`harness.loadgen.order` (in short: a gap between messages that did arrive, within one
connection, or one continuous membership for sender counters, is lost unless it is filled
later, which is a reorder).

The counts judge something only when messages were received: with fewer than
``min_samples`` received, the check has no data (ERROR), never a PASS on nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from harness.measurements import Measurements
from harness.thresholds.base import Measured, PlainNumber, ThresholdKind, pick_statistic

HEAD = "deliver"
STATISTICS: tuple[str, ...] = ("reordered", "lost", "duplicated")
SYNTAX = f"deliver.{'|'.join(STATISTICS)}"


@dataclass(frozen=True)
class OrderCount(PlainNumber):
    """How many delivered messages were reordered, lost or duplicated."""

    statistic: str

    @property
    def subject(self) -> str:
        """``deliver.reordered``, ``deliver.lost`` or ``deliver.duplicated``."""
        return f"{HEAD}.{self.statistic}"

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """The count, once at least ``min_samples`` messages were received."""
        counts = measurements.delivery_order
        if counts is None:
            return Measured(value=None, samples=0,
                            reason=f"{self.subject} was not measured in this run")
        needed = max(min_samples, 1)
        if counts.received < needed:
            return Measured(value=None, samples=counts.received,
                            reason=f"{self.subject} has {counts.received} messages received, "
                                   f"needs {needed}")
        return Measured(value=float(getattr(counts, self.statistic)), samples=counts.received)


def claims(subject: str) -> bool:
    """``deliver.reordered`` and the like (typos too, for a useful message) are this kind's;
    ``deliver[fast].p99`` and ``deliver.max`` are latency's."""
    statistic = subject[len(HEAD) + 1:] if subject.startswith(HEAD + ".") else ""
    return bool(statistic) and bool(difflib.get_close_matches(statistic, STATISTICS, n=1))


def parse(subject: str) -> OrderCount:
    """Parse ``deliver.reordered``, ``deliver.lost`` or ``deliver.duplicated``.

    Raises:
        ValueError: any other statistic.
    """
    statistic = subject[len(HEAD) + 1:] if subject.startswith(HEAD + ".") else ""
    return OrderCount(pick_statistic(statistic, STATISTICS, subject, SYNTAX, f"{HEAD}."))


KIND = ThresholdKind(name="order", heads=(HEAD,), syntax=SYNTAX, parse=parse, claims=claims)
