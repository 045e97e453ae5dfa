"""Which member is slow: the first N users started get the N slow URLs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["MemberSlot", "SlotAllocator"]


@dataclass(frozen=True)
class MemberSlot:
    index: int
    kind: str  # "fast" or "slow"
    url: str
    name: str
    room: str


class SlotAllocator:
    """Hands out member slots in start order, within one Locust process."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def allocate(
        self, fast_url: str, slow_urls: list[str], rooms: int, prefix: str = ""
    ) -> MemberSlot:
        index = next(self._counter)
        room = f"room-{index % max(rooms, 1)}"
        if index < len(slow_urls):
            return MemberSlot(index, "slow", slow_urls[index], f"{prefix}slow-{index}", room)
        return MemberSlot(index, "fast", fast_url, f"{prefix}fast-{index}", room)
