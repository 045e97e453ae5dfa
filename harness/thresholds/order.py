"""Threshold kind ``order``: messages that arrived out of order, twice, or not at all.

Subjects:

- ``deliver.reordered``, ``deliver.duplicated`` and ``deliver.lost``: counts over every
  receiving member of the run (plain numbers, no unit), e.g. ``deliver.reordered == 0``.
- ``deliver[MEMBERS].lost`` (``MEMBERS``: ``fast``, ``slow`` or ``all``): the *ratio* of the
  deliveries owed to those members that were lost (0..1, or a percentage), e.g.
  ``deliver[fast].lost < 0.01``.

Reordered and duplicated come from ``seq`` where the protocol numbers each member's messages,
else from each sender's own counter carried in its message ids
(:mod:`harness.loadgen.order_tracker`).
Owed and lost come from the operation history (:mod:`harness.loadgen.history`): a broadcast
is owed to every other member in the room when it is sent; one not received by the end of its
receiver's membership, or of the run, is lost (the rules: scenarios/README.md).

The counts judge something only when messages were received (for ``lost``: owed): with fewer
than ``min_samples``, the check has no data (ERROR), never a PASS on nothing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import ClassVar

from harness.measure.measurements import Measurements
from harness.thresholds.base import (
    HeadStatistic,
    Measured,
    PlainNumber,
    ThresholdKind,
    pick_statistic,
    ratio_limit,
    statistic_after,
    too_few_samples,
)

HEAD = "deliver"
STATISTICS: tuple[str, ...] = ("reordered", "lost", "duplicated")
MEMBERS: tuple[str, ...] = ("fast", "slow", "all")
SYNTAX = f"deliver.{'|'.join(STATISTICS)} (counts) or deliver[fast|slow|all].lost (ratio)"
_RATIO = re.compile(r"^deliver\[(?P<members>[^\]]*)\]\.(?P<statistic>.*)$")


@dataclass(frozen=True)
class OrderCount(HeadStatistic, PlainNumber):
    """How many delivered messages were reordered, lost or duplicated (``deliver.STAT``)."""

    head: ClassVar[str] = HEAD

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """The count, once at least ``min_samples`` messages were received."""
        counts = measurements.delivery_order
        if counts is None:
            return _not_measured(self.subject)
        too_few = too_few_samples(self.subject, counts.received, min_samples,
                                  "messages received")
        if too_few is not None:
            return too_few
        return Measured(value=float(getattr(counts, self.statistic)), samples=counts.received)


@dataclass(frozen=True)
class LostRatio:
    """The share of the deliveries owed to ``members`` that were lost."""

    members: str

    @property
    def subject(self) -> str:
        return f"{HEAD}[{self.members}].lost"

    unit: ClassVar[str] = ""

    def limit_from(self, number: float, unit: str | None) -> float:
        """A fraction (0..1) or a percentage."""
        return ratio_limit(self.subject, number, unit)

    def measure(self, measurements: Measurements, min_samples: int) -> Measured:
        """Lost / owed, once at least ``min_samples`` deliveries were owed."""
        counts = measurements.delivery_order
        if counts is None:
            return _not_measured(self.subject)
        of_kind = counts.of_kind(None if self.members == "all" else self.members)
        owed, lost = of_kind["owed"], of_kind["lost"]
        too_few = too_few_samples(self.subject, owed, min_samples, "deliveries owed",
                                  " (owed: to members of the same Locust process whose "
                                  "message ids match what was sent)")
        if too_few is not None:
            return too_few
        return Measured(value=lost / owed, samples=owed)


def _not_measured(subject: str) -> Measured:
    """No data: the run has no delivery order counts."""
    return Measured(value=None, samples=0, reason=f"{subject} was not measured in this run")


def claims(subject: str) -> bool:
    """``deliver.reordered`` and the like (typos too, for a useful message) and
    ``deliver[fast].lost`` are this kind's; ``deliver[fast].p99`` and ``deliver.max`` are
    latency's."""
    ratio = _RATIO.match(subject)
    if ratio is not None:
        return bool(difflib.get_close_matches(ratio["statistic"], ["lost"], n=1, cutoff=0.75))
    statistic = statistic_after(HEAD, subject)
    return bool(statistic) and bool(difflib.get_close_matches(statistic, STATISTICS, n=1))


def parse(subject: str) -> OrderCount | LostRatio:
    """Parse ``deliver.reordered``, ``deliver.lost``, ``deliver.duplicated`` or
    ``deliver[MEMBERS].lost``.

    Raises:
        ValueError: any other statistic or member kind.
    """
    ratio = _RATIO.match(subject)
    if ratio is not None:
        members = ratio["members"].strip().lower()
        if members not in MEMBERS:
            raise ValueError(f"unknown member kind '{ratio['members']}' in '{subject}'; "
                             "use fast, slow or all")
        pick_statistic(ratio["statistic"], ("lost",), subject, SYNTAX, f"{HEAD}[{members}].")
        return LostRatio(members)
    statistic = statistic_after(HEAD, subject)
    return OrderCount(pick_statistic(statistic, STATISTICS, subject, SYNTAX, f"{HEAD}."))


KIND = ThresholdKind(name="order", heads=(HEAD,), syntax=SYNTAX, parse=parse, claims=claims)
