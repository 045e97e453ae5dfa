"""Held across await: report a task that holds a monitored asyncio lock while suspended.

A lock held across network I/O is the cause of the slow-member stall, but wait
reports only show its effect, and only once a waiter has waited past the wait
threshold. This module looks for the cause itself: a task that holds a monitored
asyncio lock and is suspended on something that is not ready (a socket drain, a
future such as an ack, a sleep) for longer than the suspend threshold.

asyncio offers no hook on a task's suspension, and the lock's fast path must stay
as cheap as it is, so detection samples instead. Each event loop that uses a
monitored lock while a suspend threshold applies gets one sampler, a
``loop.call_later`` callback. When it runs, every other task of the loop is
suspended by definition; for each task in the hold registry it reads the future
the task waits on (``Task._fut_waiter``, set by asyncio while a task awaits a
pending future, ``None`` while it is ready to run). The same pending future seen
across samples that lie a threshold apart makes a report, once per suspension
and lock, with the task's stack at the await point. It is sent when the future
is done, with the suspension's whole length, or after :data:`STILL_SUSPENDED`
if the task is still waiting then.

Cost and limits:

* Nothing on acquire or release. The sampler ticks every quarter threshold
  (1 ms to 50 ms) while tasks of its loop hold monitored locks, and every 50 ms
  otherwise; a tick reads the registry and, per holding task, one attribute.
* The reported duration is a lower bound: a suspension is timed from the first
  sample that saw it, so it must last about a threshold plus a tick to be seen.
  A suspension still going after :data:`STILL_SUSPENDED` is reported with its
  length so far.
* A bare ``yield`` (``await asyncio.sleep(0)``) is not a suspension on anything
  pending, and is never reported.
* A server with the bug suspends under its lock on every broadcast, and a report
  formats every holder's stacks. So one place (lock, where it was taken, where its
  holder awaits) is reported at most once per :data:`REPEAT_INTERVAL` for each
  class of length (1, 2, 4, 8... times the threshold); without that, the
  detector's own reports would slow down the server it watches.
* Threading locks are not covered: the standard library has no cheap hook that
  tells a thread blocked in I/O from one that computes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from .detect import emit, suspend_report
from .frames import coro_chain
from .holds import FRAME, LASTI, LOCK, Hold, LockBase, held
from .options import options
from .report import Report

__all__ = ["SuspendWatch", "watches", "arm", "arm_running_loop", "forget_all"]

MIN_TICK = 0.001
"""Never sample more often than this (seconds)."""

MAX_TICK = 0.05
"""Sample at least this often while holds are watched, and when idle (seconds)."""

REPEAT_INTERVAL = 1.0
"""Report one place (lock, acquire site, await site) at most this often (seconds)."""

STILL_SUSPENDED = 1.0
"""A suspension that has not ended this long after it was first seen is reported anyway."""

_Place = tuple[int, object, int, tuple[tuple[object, int], ...]]
"""Lock serial, acquire code and offset, and the code and offset of each awaiting frame."""


@dataclass
class _Suspension:
    """One suspension of one task: the future it waits on and when it was first seen.

    Reports are built (stacks taken at the await point) when the suspension passes a
    threshold, and sent when it ends, so they carry its whole length; or when it has
    lasted :data:`STILL_SUSPENDED`, so a future that never resolves is reported too.
    """

    future: Any
    since: float
    reported: set[int] = field(default_factory=set)  # id() of holds already reported
    pending: list[tuple[LockBase, Report]] = field(default_factory=list)
    place: _Place | None = None  # where it waits; computed when first needed

    def flush(self, now: float) -> None:
        """Send the pending reports, timed from first sight to ``now``."""
        pending, self.pending = self.pending, []
        for lock, report in pending:
            report.duration_s = now - self.since
            report.time = time.time()
            emit(lock, report)

    def ended(self, future: Any) -> None:
        """Done callback of the awaited future."""
        self.flush(time.monotonic())


class SuspendWatch:
    """The sampler of one event loop."""

    __slots__ = ("loop", "handle", "suspended", "last_reported", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handle: asyncio.TimerHandle | None = None
        self.suspended: dict[asyncio.Task[Any], _Suspension] = {}
        self.last_reported: dict[tuple[_Place, int], float] = {}

    def start(self) -> None:
        """Schedule the first tick."""
        self.handle = self.loop.call_later(MIN_TICK, self.tick)

    def stop(self) -> None:
        """Cancel the next tick and forget every suspension."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.suspended.clear()

    def tick(self) -> None:
        """Sample the holders of this loop, report long suspensions, schedule the next tick."""
        self.handle = None
        if watches.get(self.loop) is not self:
            return
        try:
            shortest = self.sample(time.monotonic())
        except Exception:  # a bug here must never break the loop
            logging.getLogger("harness.lockwatch").exception("lockwatch: suspend sampler failed")
            shortest = None
        delay = MAX_TICK if shortest is None else min(max(shortest / 4, MIN_TICK), MAX_TICK)
        if not self.loop.is_closed():
            self.handle = self.loop.call_later(delay, self.tick)

    def sample(self, now: float) -> float | None:
        """One look at every holding task of this loop.

        Returns the shortest suspend threshold among the holds seen, or ``None``
        when no hold of this loop has one.
        """
        # Runs up to a thousand times a second on a busy loop: plain reads only.
        shortest: float | None = None
        still: dict[asyncio.Task[Any], _Suspension] = {}
        default = options.suspend_threshold
        loop = self.loop
        for owner, mine in list(held.items()):
            if not isinstance(owner, asyncio.Task) or owner.get_loop() is not loop:
                continue
            future = getattr(owner, "_fut_waiter", None)
            suspended = future is not None and not future.done()
            limits: list[tuple[Hold, float]] = []
            for hold in mine if isinstance(mine, list) else (mine,):
                own = hold[LOCK]._suspend_threshold
                limit = default if own is None else (own or None)
                if limit is not None:
                    if shortest is None or limit < shortest:
                        shortest = limit
                    if suspended:
                        limits.append((hold, limit))
            if not limits:
                continue  # running, ready to run, just woken up, or not watched
            suspension = self.suspended.get(owner)
            if suspension is None or suspension.future is not future:
                suspension = _Suspension(future, now)
            still[owner] = suspension
            elapsed = now - suspension.since
            for hold, limit in limits:
                if elapsed >= limit and id(hold) not in suspension.reported:
                    if self.repeated(suspension, hold, owner, elapsed / limit, now):
                        continue  # looked at again next tick: it may reach a longer class
                    suspension.reported.add(id(hold))
                    report = suspend_report(hold, elapsed, future)
                    if report is not None:
                        if not suspension.pending:
                            suspension.future.add_done_callback(suspension.ended)
                        suspension.pending.append((hold[LOCK], report))
            if suspension.pending and elapsed >= STILL_SUSPENDED:
                suspension.flush(now)
        self.suspended = still
        return shortest

    def repeated(
        self,
        suspension: _Suspension,
        hold: Hold,
        owner: asyncio.Task[Any],
        times_limit: float,
        now: float,
    ) -> bool:
        """Whether this place and length class was reported less than a repeat interval ago.

        Lengths are classed by powers of two of the threshold, so a slow member's long
        suspension is still reported in a second that already saw fast members' short ones
        at the same place.
        """
        if suspension.place is None:
            awaiting = tuple(
                (frame.f_code, frame.f_lasti) for frame in coro_chain(owner.get_coro())
            )
            suspension.place = (hold[LOCK]._serial, hold[FRAME].f_code, hold[LASTI], awaiting)
        key = (suspension.place, int(math.log2(max(times_limit, 1.0))))
        last = self.last_reported.get(key)
        if last is not None and now - last < REPEAT_INTERVAL:
            return True
        if len(self.last_reported) > 4096:  # bound the memory of a server with many sites
            self.last_reported = {
                key: seen for key, seen in self.last_reported.items()
                if now - seen < REPEAT_INTERVAL
            }
        self.last_reported[key] = now
        return False


watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SuspendWatch] = (
    weakref.WeakKeyDictionary()
)
"""Running samplers by loop."""


def arm(loop: asyncio.AbstractEventLoop) -> None:
    """Start the sampler of ``loop`` if a suspend threshold applies and none runs yet.

    Called off the fast path: when a lock first binds to a loop, on a contended
    acquire, and by :func:`~harness.lockwatch.configure`. Locks with a threshold of
    their own arm it even while the global threshold is off.
    """
    if loop in watches or loop.is_closed():
        return
    watch = watches[loop] = SuspendWatch(loop)
    watch.start()


def arm_running_loop() -> None:
    """:func:`arm` the running loop, if this thread runs one."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    arm(loop)


def wanted(lock_threshold: float | None) -> bool:
    """Whether a lock with this own threshold (``None``: follow the global) is watched."""
    if lock_threshold is None:
        return options.suspend_threshold is not None
    return lock_threshold > 0


def forget_all() -> None:
    """Stop every sampler (for :func:`~harness.lockwatch.reset`)."""
    for watch in list(watches.values()):
        watch.stop()
    watches.clear()
