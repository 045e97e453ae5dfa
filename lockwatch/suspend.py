"""Held across await: report a task that holds a monitored asyncio lock while suspended.

A lock held across network I/O is the cause of the slow-member stall, but wait
reports only show its effect, and only once a waiter has waited past the wait
threshold. This module looks for the cause itself, in two ways that share one
record per suspension and one rate limit:

* **Every suspension, however short (the follower).** A hold is taken in one
  step of its task (the run between two suspensions); after that step, this
  loop's follower looks at the task. If it still holds a watched lock and has
  suspended, :func:`~.awaits.classify` says on what. A suspension on network
  I/O or on a reply (``network`` or ``reply``: a drain, a socket read, an ack
  future, an event) makes a report at once, whatever its length; a timer is left
  to the sampler below; a lock or a bare yield is never reported. Either way the
  follower adds a done callback to the awaited future, which runs right after
  the task's next step, and looks again: so every suspension of a holder is
  seen, deterministically, and none is missed for being short.
* **Long suspensions (the sampler).** A ``loop.call_later`` callback samples
  the holders every quarter threshold (1 ms to 50 ms; 50 ms when none holds).
  The same pending future seen a suspend threshold apart makes a report, for any
  kind but ``lock`` and ``yield``. This is what reports a long ``timer``, and a
  slow member's long ack after fast members' short ones at the same place.

A report is built while the task is suspended (stacks at the await point) and
sent when the awaited future is done, with the suspension's length; or after
:data:`STILL_SUSPENDED` if the task is still waiting then.

How the follower learns of a step, at no cost on the uncontended acquire: an
asyncio lock finds its task through ``_entry_loop``, which the follower clears
each time it runs. The first acquire of a lock after that takes the slow path,
which tells the follower (:meth:`SuspendWatch.step_taken`) and sets
``_entry_loop`` again; later acquires before the follower runs are as cheap as
without the detector, and the follower, which runs after them, sees their holds
too. A lock handed to a waiter tells the follower the same way.

Cost and limits:

* Acquire and release: nothing more, but for one slow-path acquire per lock and
  loop iteration. Per suspension of a holder: classifying it (a walk of its await
  chain) and one done callback. Per report: formatting every holder's stack.
* The sampler's reported duration is a lower bound: a suspension is timed from
  the first sample that saw it. The follower's is exact to a loop iteration.
* A server with the bug suspends under its lock on every broadcast. So one
  place (lock, where it was taken, where its holder awaits) is reported at most
  once per :data:`REPEAT_INTERVAL` by the follower, and once per interval for
  each class of length (1, 2, 4, 8... times the threshold) by the sampler;
  without that, the detector's own reports would slow down the server it watches.
* Threading locks are not covered: the standard library has no cheap hook that
  tells a thread blocked in I/O from one that computes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from lockwatch.awaits import Awaited, classify
from lockwatch.detect import emit, suspend_report
from lockwatch.frames import coro_chain
from lockwatch.holds import FRAME, LASTI, LOCK, Hold, LockBase, held
from lockwatch.options import options
from lockwatch.report import Report

__all__ = [
    "SuspendWatch", "watches", "unwatched", "arm", "arm_running_loop", "wanted", "forget_all",
    "rebind_unwatched",
]

logger = logging.getLogger("lockwatch")

MIN_TICK = 0.001
"""Never sample more often than this (seconds)."""

MAX_TICK = 0.05
"""Sample at least this often while holds are watched, and when idle (seconds)."""

REPEAT_INTERVAL = 1.0
"""Report one place (lock, acquire site, await site) at most this often (seconds)."""

STILL_SUSPENDED = 1.0
"""A suspension that has not ended this long after it was first seen is reported anyway."""

_SETTLE_TRIES = 3
"""Turns of the loop to wait for an awaited task's first suspension before presuming a reply."""

AT_ONCE = -1
"""The rate limit's length class of reports made at once (network I/O or a reply)."""

_Place = tuple[int, object, int, tuple[tuple[object, int], ...]]
"""Lock serial, acquire code and offset, and the code and offset of each awaiting frame."""


@dataclass
class _Suspension:
    """One suspension of one task: the future it waits on, what that is, when it began.

    Reports are built (stacks taken at the await point) when the suspension is
    found to be I/O or passes a threshold, and sent when it ends, so they carry
    its whole length; or when it has lasted :data:`STILL_SUSPENDED`, so a future
    that never resolves is reported too.
    """

    future: Any
    since: float
    awaited: Awaited
    reported: set[int] = field(default_factory=set)  # id() of holds already reported
    pending: list[tuple[LockBase, Report]] = field(default_factory=list)
    place: _Place | None = None  # where it waits; computed when first needed
    ends_watched: bool = False  # a done callback will flush the pending reports
    followed: bool = False  # the follower looks at the task again when the future is done

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


def _watched(mine: Hold | list[Hold]) -> list[tuple[Hold, float]]:
    """The holds in ``mine`` whose lock has a suspend threshold, with that threshold."""
    result = []
    for hold in mine if isinstance(mine, list) else (mine,):
        limit = hold[LOCK].suspend_limit()
        if limit is not None:
            result.append((hold, limit))
    return result


class SuspendWatch:
    """The follower and the sampler of one event loop."""

    __slots__ = (
        "loop", "handle", "check_handle", "rebound", "looking", "suspended", "last_reported",
        "__weakref__",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handle: asyncio.TimerHandle | None = None
        self.check_handle: asyncio.Handle | None = None
        self.rebound: list[Any] = []  # locks whose _entry_loop the next check clears
        self.looking: set[asyncio.Task[Any]] = set()  # ready holders, looked at after a step
        self.suspended: dict[asyncio.Task[Any], _Suspension] = {}
        self.last_reported: dict[tuple[_Place, int], float] = {}

    def start(self) -> None:
        """Schedule the first tick."""
        self.handle = self.loop.call_later(MIN_TICK, self.tick)

    def stop(self) -> None:
        """Cancel the next tick and check, and forget every suspension."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.check_handle is not None:
            self.check_handle.cancel()
            self.check_handle = None
        self.unbind()
        self.suspended.clear()
        self.looking.clear()

    # The follower.

    def step_taken(self, lock: Any = None) -> None:
        """A hold was taken in the running step: look at the holders after it.

        ``lock``, when given, found its task by ``_entry_loop``, which the check clears.
        """
        if lock is not None:
            lock._entry_loop = self.loop
            self.rebound.append(lock)
        if self.check_handle is None and not self.loop.is_closed():
            self.check_handle = self.loop.call_soon(self.check)

    def unbind(self) -> None:
        """Send the next acquire of each lock used since the last check to the slow path."""
        for lock in self.rebound:
            lock._entry_loop = None
        self.rebound.clear()

    def check(self) -> None:
        """Look at every holding task of this loop (after the steps that took holds)."""
        self.check_handle = None
        self.unbind()
        if watches.get(self.loop) is not self:
            return
        loop = self.loop
        for owner in list(held):
            if isinstance(owner, asyncio.Task) and owner.get_loop() is loop:
                self.look(owner)

    def look(self, task: asyncio.Task[Any]) -> None:
        """See what ``task`` does now, if it holds a watched lock; report I/O at once."""
        try:
            self._look(task)
        except Exception:  # a bug here must never break the loop
            logger.exception("lockwatch: held-across-await follower failed")

    def _look(self, task: asyncio.Task[Any]) -> None:
        mine = held.get(task)
        holds = [] if mine is None else _watched(mine)
        if not holds or task.done():
            self.suspended.pop(task, None)
            return
        future = getattr(task, "_fut_waiter", None)
        if future is None:  # ready to run (a bare yield): look again after its next step
            if task not in self.looking:
                self.looking.add(task)
                self.loop.call_soon(self.after_yield, task)
            return
        now = time.monotonic()
        suspension = self.suspended.get(task)
        if suspension is None or suspension.future is not future:
            awaited = classify(task, future, [hold[FRAME] for hold, _ in holds])
            suspension = self.suspended[task] = _Suspension(future, now, awaited)
        elif suspension.followed:
            return  # seen already; its done callback looks again
        suspension.followed = suspension.ends_watched = True
        if suspension.awaited.settled:
            self.report_at_once(task, suspension, holds, now)
        else:  # it awaits a task that has not started: ask again after the loop's next turn
            self.loop.call_soon(self.settle, task, suspension, 1)
        future.add_done_callback(functools.partial(self.resumed, task, suspension))

    def report_at_once(
        self,
        task: asyncio.Task[Any],
        suspension: _Suspension,
        holds: list[tuple[Hold, float]],
        now: float,
    ) -> None:
        """Report each of ``holds`` if ``suspension`` is on network I/O or a reply."""
        if suspension.awaited.reported_at_once:
            for hold, _ in holds:
                if id(hold) not in suspension.reported:
                    self.report(suspension, hold, task, AT_ONCE, 0.0, now)

    def settle(self, task: asyncio.Task[Any], suspension: _Suspension, tries: int) -> None:
        """Call-soon callback: classify again a suspension on a task that had not started."""
        if self.suspended.get(task) is not suspension or suspension.future.done():
            return  # over within a turn of the loop: nothing was waited on for long
        try:
            mine = held.get(task)
            holds = [] if mine is None else _watched(mine)
            awaited = classify(task, suspension.future, [hold[FRAME] for hold, _ in holds])
            if not awaited.settled and tries < _SETTLE_TRIES:
                self.loop.call_soon(self.settle, task, suspension, tries + 1)
                return
            suspension.awaited = awaited  # still unsettled: the presumption, a reply
            self.report_at_once(task, suspension, holds, time.monotonic())
        except Exception:  # a bug here must never break the loop
            logger.exception("lockwatch: held-across-await follower failed")

    def after_yield(self, task: asyncio.Task[Any]) -> None:
        """Call-soon callback: ``task`` has taken its next step after a bare yield."""
        self.looking.discard(task)
        self.look(task)

    def resumed(self, task: asyncio.Task[Any], suspension: _Suspension, future: Any) -> None:
        """Done callback of an awaited future: runs right after the task's next step."""
        suspension.flush(time.monotonic())
        if self.suspended.get(task) is suspension:
            del self.suspended[task]
        self.look(task)

    def report(
        self,
        suspension: _Suspension,
        hold: Hold,
        owner: asyncio.Task[Any],
        length_class: int,
        elapsed: float,
        now: float,
    ) -> bool:
        """Build a report on ``hold`` for ``suspension``, to be sent when it ends.

        Returns ``False`` when the rate limit held it back.
        """
        if self.repeated(suspension, hold, owner, length_class, now):
            return False
        suspension.reported.add(id(hold))
        report = suspend_report(hold, elapsed, suspension.future, suspension.awaited.label())
        if report is not None:
            if not suspension.ends_watched:
                suspension.ends_watched = True
                suspension.future.add_done_callback(suspension.ended)
            suspension.pending.append((hold[LOCK], report))
        return True

    # The sampler.

    def tick(self) -> None:
        """Sample the holders of this loop, report long suspensions, schedule the next tick."""
        self.handle = None
        if watches.get(self.loop) is not self:
            return
        try:
            shortest = self.sample(time.monotonic())
        except Exception:  # a bug here must never break the loop
            logger.exception("lockwatch: suspend sampler failed")
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
        loop = self.loop
        live: set[asyncio.Task[Any]] = set()
        for owner, mine in list(held.items()):
            if not isinstance(owner, asyncio.Task) or owner.get_loop() is not loop:
                continue
            limits = _watched(mine)
            if not limits:
                continue
            least = min(limit for _, limit in limits)
            if shortest is None or least < shortest:
                shortest = least
            future = getattr(owner, "_fut_waiter", None)
            if future is None or future.done():
                continue  # running, ready to run, or just woken up
            live.add(owner)
            suspension = self.suspended.get(owner)
            if suspension is None or suspension.future is not future:
                awaited = classify(owner, future, [hold[FRAME] for hold, _ in limits])
                suspension = self.suspended[owner] = _Suspension(future, now, awaited)
            if suspension.awaited.never_reported:
                continue
            elapsed = now - suspension.since
            for hold, limit in limits:
                if elapsed >= limit and id(hold) not in suspension.reported:
                    length_class = int(math.log2(max(elapsed / limit, 1.0)))
                    # Held back: looked at again next tick, it may reach a longer class.
                    self.report(suspension, hold, owner, length_class, elapsed, now)
            if suspension.pending and elapsed >= STILL_SUSPENDED:
                suspension.flush(now)
        for owner in [task for task in self.suspended if task not in live]:
            if owner.done() or owner not in held:
                del self.suspended[owner]
        return shortest

    def repeated(
        self,
        suspension: _Suspension,
        hold: Hold,
        owner: asyncio.Task[Any],
        length_class: int,
        now: float,
    ) -> bool:
        """Whether this place and length class was reported less than a repeat interval ago.

        The sampler classes lengths by powers of two of the threshold, so a slow
        member's long suspension is still reported in a second that already saw
        fast members' short ones at the same place; the follower's reports, made
        before any length is known, have a class of their own (:data:`AT_ONCE`).
        """
        if suspension.place is None:
            awaiting = tuple(
                (frame.f_code, frame.f_lasti) for frame in coro_chain(owner.get_coro())
            )
            suspension.place = (hold[LOCK]._serial, hold[FRAME].f_code, hold[LASTI], awaiting)
        key = (suspension.place, length_class)
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
"""Running watches by loop."""

unwatched: weakref.WeakSet[Any] = weakref.WeakSet()
"""asyncio locks bound to a loop while the detector was off for them (:func:`rebind_unwatched`)."""


def arm(loop: asyncio.AbstractEventLoop) -> None:
    """Start the watch of ``loop`` if none runs yet.

    Called off the fast path: when a lock that wants the detector first binds to
    a loop, on a contended acquire, and by :func:`~lockwatch.configure`.
    Locks with a threshold of their own arm it even while the global threshold is off.
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


def rebind_unwatched() -> None:
    """Send every lock bound while the detector was off back to the slow path once.

    Called when the global threshold is turned on, so that each such lock tells
    the follower about its next holds.
    """
    for lock in list(unwatched):
        lock._entry_loop = None
    unwatched.clear()


def forget_all() -> None:
    """Stop every watch (for :func:`~lockwatch.reset`)."""
    for watch in list(watches.values()):
        watch.stop()
    watches.clear()
    rebind_unwatched()
