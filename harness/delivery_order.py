"""Delivery order and loss as the run measured them: the sums of ``order.jsonl``.

The load generator counts, per receiving member, messages received, reordered and duplicated
(definitions: :mod:`harness.loadgen.order`), and deliveries owed and lost (definitions:
:mod:`harness.loadgen.history`); the collecting Locust process appends the counts to
``order.jsonl`` in the run folder, one JSON line per batch and member kind. :class:`OrderTail`
reads the new lines as the run goes and sums them, in all and per member kind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ORDER_COUNTS", "ORDER_FILE_NAME", "DeliveryOrderCounts", "OrderTail"]

ORDER_COUNTS: tuple[str, ...] = ("received", "reordered", "duplicated", "lost", "owed")
#: Written by the collecting Locust process next to the samples file.
ORDER_FILE_NAME = "order.jsonl"


@dataclass
class DeliveryOrderCounts:
    """Messages received by members, and how many of them were reordered or duplicated;
    deliveries owed to members (received or lost) and lost: over every member, and per
    receiving member kind in :attr:`kinds`."""

    received: int = 0
    reordered: int = 0
    duplicated: int = 0
    lost: int = 0
    owed: int = 0
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, line: dict[str, Any]) -> None:
        """Add one ``order.jsonl`` line; raises ValueError when a count is not an integer >= 0."""
        for name in ORDER_COUNTS:
            value = line.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ORDER_COUNTS:
            setattr(self, name, getattr(self, name) + line.get(name, 0))
        kind = line.get("member_kind")
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
        return copied

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OrderTail:
    """Sum the complete lines appended to ``order.jsonl`` since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts = DeliveryOrderCounts()
        self.malformed = 0
        self._offset = 0

    def read_new(self) -> DeliveryOrderCounts:
        """The sums so far (the object is updated in place; copy it to keep a snapshot)."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return self.counts
        end = chunk.rfind(b"\n") + 1  # keep a half-written last line for later
        self._offset += end
        for line in chunk[:end].splitlines():
            try:
                decoded = json.loads(line)
                if not isinstance(decoded, dict):
                    raise ValueError("not a JSON object")
                self.counts.add(decoded)
            except ValueError:
                self.malformed += 1
        return self.counts
