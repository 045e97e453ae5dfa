"""Delivery order and loss as the run measured them: the sums of ``order.jsonl``.

The load generator counts, per receiving member, messages received, reordered and duplicated
(definitions: :mod:`harness.loadgen.order_tracker`), and deliveries owed and lost (definitions:
:mod:`harness.loadgen.history`); the collecting Locust process appends the counts to
``order.jsonl`` in the run folder, one JSON line per batch and member kind. :class:`OrderTail`
reads the new lines as the run goes and sums them, in all and per member kind, and keeps when
each lost message was sent (a line's ``lost_sent``: ``[[unix time, count], ...]``), for the
pages' chart of lost deliveries over time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.measure.tail import LineTail

__all__ = ["LOST_SENT", "ORDER_COUNTS", "DeliveryOrderCounts", "OrderTail"]

ORDER_COUNTS: tuple[str, ...] = ("received", "reordered", "duplicated", "lost", "owed")
#: A line's lost deliveries by send time: ``[[unix time, count], ...]`` (absent: none, or a
#: writer from before it existed).
LOST_SENT = "lost_sent"


@dataclass
class DeliveryOrderCounts:
    """Messages received by members, and how many of them were reordered or duplicated;
    deliveries owed to members (received or lost) and lost: over every member, and per
    receiving member kind in :attr:`kinds`; :attr:`lost_sent`: ``(send time, member kind,
    count)`` of the lost ones, in arrival order (not in :meth:`to_dict`: a time series)."""

    received: int = 0
    reordered: int = 0
    duplicated: int = 0
    lost: int = 0
    owed: int = 0
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    lost_sent: list[tuple[float, str, int]] = field(default_factory=list)

    def add(self, line: dict[str, Any]) -> None:
        """Add one ``order.jsonl`` line; raises ValueError when a count is not an integer >= 0."""
        for name in ORDER_COUNTS:
            value = line.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        lost_sent = _lost_sent(line.get(LOST_SENT, []))
        for name in ORDER_COUNTS:
            setattr(self, name, getattr(self, name) + line.get(name, 0))
        kind = line.get("member_kind")
        self.lost_sent += [(sent, kind if isinstance(kind, str) else "", count)
                           for sent, count in lost_sent]
        if isinstance(kind, str):
            counts = self.kinds.setdefault(kind, dict.fromkeys(ORDER_COUNTS, 0))
            for name in ORDER_COUNTS:
                counts[name] += line.get(name, 0)

    def of_kind(self, member_kind: str | None) -> dict[str, int]:
        """The counts of receivers of ``member_kind`` (None: every member)."""
        if member_kind is None:
            return {name: getattr(self, name) for name in ORDER_COUNTS}
        return dict(self.kinds.get(member_kind, dict.fromkeys(ORDER_COUNTS, 0)))

    def copy(self) -> DeliveryOrderCounts:
        copied = DeliveryOrderCounts(**{name: getattr(self, name) for name in ORDER_COUNTS})
        copied.kinds = {kind: dict(counts) for kind, counts in self.kinds.items()}
        copied.lost_sent = list(self.lost_sent)
        return copied

    def to_dict(self) -> dict[str, Any]:
        """The counts (``result.json`` ``measured.delivery_order``), without the time series."""
        document = asdict(self)
        del document[LOST_SENT]
        return document


def _lost_sent(value: Any) -> list[tuple[float, int]]:
    """A line's ``lost_sent``; raises ValueError when it is not ``[[time, count >= 0], ...]``."""
    if not isinstance(value, list):
        raise ValueError(f"{LOST_SENT} must be a list, got {value!r}")
    pairs = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2
                and isinstance(item[0], int | float) and not isinstance(item[0], bool)
                and math.isfinite(item[0])
                and isinstance(item[1], int) and not isinstance(item[1], bool) and item[1] >= 0):
            raise ValueError(f"{LOST_SENT} must hold [time, count] pairs, got {item!r}")
        pairs.append((float(item[0]), item[1]))
    return pairs


class OrderTail(LineTail):
    """Sum the complete lines appended to ``order.jsonl`` since the last call."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.counts = DeliveryOrderCounts()
        self.malformed = 0

    def read_new(self) -> DeliveryOrderCounts:
        """The sums so far (the object is updated in place; copy it to keep a snapshot)."""
        for line in self.new_lines():
            try:
                decoded = json.loads(line)
                if not isinstance(decoded, dict):
                    raise ValueError("not a JSON object")
                self.counts.add(decoded)
            except ValueError:
                self.malformed += 1
        return self.counts
