"""A member's fixed schedule, so join latency can be corrected for coordinated omission.

A Locust user waits for each reply before it sends the next request, so a
stalled server gets fewer samples exactly when it is slowest. To correct for
that, every member follows a fixed schedule: its k-th join is *intended* to
start at ``start + k * period``, it leaves at ``intended + stay``, and it is
away until the next intended start. A join's corrected latency runs from its
intended start to its reply; its raw latency runs from the moment it was
really sent. While the server keeps up, the two are the same. After a stall
the member is behind schedule: it skips its stay and its time away until it
has caught up, and every join it makes meanwhile carries the backlog in its
corrected latency, as the member's users would have felt it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["CycleSchedule", "first_broadcast_delay"]


class CycleSchedule:
    """Intended join times ``start + k * period`` on a monotonic clock."""

    def __init__(self, stay_s: float, away_s: float,
                 clock: Callable[[], float] = time.monotonic, phase_s: float = 0.0) -> None:
        if stay_s < 0 or away_s < 0 or stay_s + away_s <= 0:
            raise ValueError("stay and away must be >= 0 and not both 0")
        self.stay_s = stay_s
        self.period_s = stay_s + away_s
        self.clock = clock
        self.phase_s = phase_s
        self.start: float | None = None
        self.cycles = 0

    @classmethod
    def random_phase(cls, stay_s: float, away_s: float) -> CycleSchedule:
        """A schedule whose first join is at a random point of its first period.

        Members started together would otherwise join in lockstep, all while
        nobody broadcasts, and a lock that joins wait for would never be contended.
        """
        return cls(stay_s, away_s, phase_s=random.uniform(0.0, stay_s + away_s))

    def next_join(self) -> float:
        """The intended start of the next join (the first one is ``phase_s`` from now)."""
        if self.start is None:
            self.start = self.clock() + self.phase_s
        return self.start + self.cycles * self.period_s

    def leave_at(self, intended_join: float) -> float:
        return intended_join + self.stay_s

    def advance(self) -> None:
        """The current cycle is over, whatever happened in it."""
        self.cycles += 1

    def wait_s(self) -> float:
        """Seconds until the next intended join (0 when behind schedule)."""
        return max(0.0, self.next_join() - self.clock())

    @staticmethod
    def corrected_ms(intended_start: float, completed: float) -> float:
        return max(0.0, (completed - intended_start) * 1000)


def first_broadcast_delay(interval_s: float, stay_s: float,
                          draw: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds from a join to the member's first broadcast of the stay.

    When the interval fits in the stay, at once (then every interval). When it is longer
    than the stay (a town hall: 1,000 members who rarely speak), at a random point of one
    interval: a delay past the stay means no broadcast this stay, so each member still
    broadcasts once per interval in the room on average, not once per join.
    """
    if interval_s <= stay_s:
        return 0.0
    return draw(0.0, interval_s)
