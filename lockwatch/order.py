"""Lock-order history: which lock was taken while holding which.

When an owner that holds lock A asks for lock B, the pair ``(A, B)`` is
recorded with a snapshot of both acquire stacks. If ``(B, A)`` was recorded
before, by any task or thread, the two orderings can deadlock: that is an
inversion, reported once per pair of locks.

Only owners that already hold a monitored lock get here, so this costs nothing
on the common single-lock path. Snapshots keep code objects and offsets, not
frames, so the history keeps no locals alive. The history is bounded: past
``max_order_pairs`` the oldest pairs are forgotten first.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from lockwatch.frames import Snap, format_snaps, site, snap
from lockwatch.holds import FRAME, LASTI, LOCK, MODE, OWNER, Hold
from lockwatch.options import options
from lockwatch.owners import describe, frames_at_acquire, frames_now
from lockwatch.report import Mode, Party

__all__ = ["Sighting", "OrderHistory", "history"]


class Sighting(NamedTuple):
    """Where one lock of a recorded pair was asked for."""

    name: str
    ident: str
    mode: Mode
    lock: str
    site: str
    stack: list[Snap]

    def party(self) -> Party:
        """Format this sighting as a :class:`Party` (no current stack)."""
        return Party(
            name=self.name,
            ident=self.ident,
            mode=self.mode,
            acquire_site=self.site,
            acquire_stack=format_snaps(self.stack),
        )


def _sightings(first: Hold, second: Hold) -> tuple[Sighting, Sighting]:
    """Snapshot two holds of the owner running right now."""
    owner = first[OWNER]
    name, ident = describe(owner)
    now = frames_now(owner)
    result = []
    for hold in (first, second):
        frame, lasti = hold[FRAME], hold[LASTI]
        frames = frames_at_acquire(owner, frame, now)
        result.append(
            Sighting(
                name=name,
                ident=ident,
                mode=hold[MODE],
                lock=hold[LOCK].name,
                site=site(frame.f_code, lasti),
                stack=snap(frames, (frame, lasti)),
            )
        )
    return result[0], result[1]


class OrderHistory:
    """Bounded record of lock pairs ``(held, then acquired)``."""

    def __init__(self) -> None:
        # Guards the two dicts; held only for dict updates, never while a lock
        # is awaited or a sink runs.
        self._mutex = threading.Lock()
        self._pairs: dict[tuple[int, int], tuple[Sighting, Sighting]] = {}
        self._reported: dict[tuple[int, int], None] = {}

    def observe(self, holding: Hold, acquiring: Hold) -> tuple[Sighting, Sighting] | None:
        """Record that ``holding`` was held while ``acquiring`` was asked for.

        Both holds belong to the owner running now. Returns the sightings of the
        opposite order if this pair is a newly found inversion, else ``None``.
        """
        first = holding[LOCK]._serial
        second = acquiring[LOCK]._serial
        key = (first, second)
        inverse = self._pairs.get((second, first))
        if key not in self._pairs:
            sightings = _sightings(holding, acquiring)
            with self._mutex:
                self._pairs.setdefault(key, sightings)
                self._trim_locked(options.max_order_pairs)
        if inverse is None:
            return None
        pair = (min(first, second), max(first, second))
        with self._mutex:
            if pair in self._reported:
                return None
            self._reported[pair] = None
            while len(self._reported) > options.max_order_pairs:
                del self._reported[next(iter(self._reported))]
        return inverse

    def trim(self, max_pairs: int) -> None:
        """Forget the oldest pairs beyond ``max_pairs``."""
        with self._mutex:
            self._trim_locked(max_pairs)

    def _trim_locked(self, max_pairs: int) -> None:
        pairs = self._pairs
        while len(pairs) > max_pairs:
            del pairs[next(iter(pairs))]

    def clear(self) -> None:
        """Forget every pair and every reported inversion."""
        with self._mutex:
            self._pairs.clear()
            self._reported.clear()

    def __len__(self) -> int:
        return len(self._pairs)


history = OrderHistory()
