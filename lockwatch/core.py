"""The slow paths that the asyncio and threading locks share.

Each flavour keeps its uncontended acquire and release inlined in
``__aenter__``/``__aexit__`` or ``__enter__``/``__exit__``, because there a method
call is a noticeable share of the whole cost (docs/benchmarks.md, section 1).
Everything off those paths is here, once:

* the hold of an owner that asks for a lock, timed from now, which recursion and
  lock-order checks and wait reports describe (:meth:`MonitoredLock._asking`), and
  the hold of one that takes it now (:meth:`MonitoredLock._new_hold`);
* recording a hold in the registry and arming the hold watchdog when it is timed
  (:meth:`MonitoredLock._record`), and retiming the hold of a waiter that has just
  got the lock (:meth:`MonitoredLock._retimed`);
* reporting an overdue waiter, or telling the caller to look again later
  (:meth:`MonitoredLock._report_wait`);
* forgetting a released hold and checking it against the hold threshold
  (:meth:`MonitoredLock._end`, :meth:`MonitoredLock._end_read`);
* the writer-preferring admission and the FIFO waiter queue of the readers-writer
  locks (:class:`RWAdmission`), and what their read and write sides have in common
  (:class:`RWView`).

A flavour supplies what differs: how a timed hold arms its watchdog (a timer in
the lock's event loop, or the watchdog thread), how a waiter is woken (a future,
or a lock it blocks on) and who records a granted hold (asyncio: the releasing
task, since one loop runs everything; threading: the woken thread itself, since
each registry entry is changed only by its own owner).
"""

from __future__ import annotations

import collections
import time
from types import FrameType
from typing import Generic, Protocol, TypeVar

from lockwatch import detect
from lockwatch.holds import (
    OWNER,
    T0,
    Hold,
    LockBase,
    Owner,
    add_hold,
    held,
    remove_hold,
    retimed,
    take_hold,
)
from lockwatch.options import options
from lockwatch.report import Mode, Report

__all__ = ["MonitoredLock", "Waiter", "RWAdmission", "RWView"]

_monotonic = time.monotonic

_RW = TypeVar("_RW")


class MonitoredLock(LockBase):
    """A monitored lock's bookkeeping off the fast path, common to both flavours."""

    __slots__ = ()

    def _timed(self) -> bool:
        """Whether new holds need a start time (a hold threshold may apply)."""
        return self._hold_threshold is not None or options.hold_threshold is not None

    def _arm_hold(self, hold: Hold) -> None:
        """Make sure the hold watchdog looks at the timed ``hold`` when it is due."""
        raise NotImplementedError

    def _asking(self, owner: Owner, frame: FrameType, mode: Mode) -> Hold:
        """The hold of ``owner`` asking for this lock at ``frame``, timed from now.

        It is what a waiter waits with, and what recursion and lock-order checks
        describe as the acquirer.
        """
        return (self, owner, frame, frame.f_lasti, _monotonic(), mode)

    def _new_hold(self, owner: Owner, frame: FrameType, mode: Mode) -> Hold:
        """The hold ``owner`` takes now at ``frame``, timed only if a hold threshold may apply.

        The uncontended acquires inline it where ``make bench`` shows they must.
        """
        return (self, owner, frame, frame.f_lasti, _monotonic() if self._timed() else 0.0, mode)

    def _retimed(self, waiter: Hold) -> Hold:
        """The hold of ``waiter`` once it has got the lock: timed from now, if at all."""
        return retimed(waiter, _monotonic() if self._timed() else 0.0)

    def _record(self, hold: Hold) -> Hold:
        """Enter ``hold`` in the registry, arm its watchdog if it is timed, return it."""
        add_hold(hold[OWNER], hold)
        if hold[T0]:
            self._arm_hold(hold)
        return hold

    def _granted(self, waiter: Hold) -> Hold:
        """Record the hold of ``waiter``, which has just got the lock."""
        return self._record(self._retimed(waiter))

    def _report_wait(self, waiter: Hold) -> bool:
        """Report ``waiter``, past its wait threshold, if somebody holds this lock.

        Returns ``False`` if nobody holds it right now: the caller looks again a
        threshold later.
        """
        report = detect.wait_report(self, waiter)
        if report is None:
            return False
        detect.emit(self, report)
        return True

    def _end(self, hold: Hold) -> Report | None:
        """Forget ``hold``; return a "hold" report if it was held too long."""
        remove_hold(hold)
        if hold[T0]:
            return detect.release_report(self, hold)
        return None

    def _end_read(self, owner: Owner, remaining: int) -> Report | None:
        """Forget the read hold that a release by ``owner`` ends (see :func:`~.holds.take_hold`).

        ``remaining`` is the number of read holds after this release. Returns a
        "hold" report if that hold was held too long.
        """
        if not held:  # nothing recorded anywhere, e.g. taken while lockwatch was off
            return None
        hold = take_hold(self, owner, "read", remaining)
        if hold is not None and hold[T0]:
            return detect.release_report(self, hold)
        return None


class Waiter:
    """An owner queued for a lock: its hold (``None`` while lockwatch is off) and mode."""

    __slots__ = ("hold", "mode")

    def __init__(self, hold: Hold | None, mode: Mode) -> None:
        self.hold = hold
        self.mode = mode

    def gone(self) -> bool:
        """Whether the waiter left the queue in spirit (e.g. it was cancelled)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Tell the waiter that it has got the lock."""
        raise NotImplementedError


class _RWState(Protocol):
    """What :class:`RWAdmission` changes: fields in the lock's own slots (a mixin's would clash)."""

    _wlocked: bool
    _writer: Hold | None
    _nreaders: int
    _queue: collections.deque[Waiter]

    def _handover(self, hold: Hold) -> Hold: ...


class RWAdmission:
    """The admission rule and the waiter queue that both readers-writer locks share.

    Writer-preferring, as Go's ``sync.RWMutex``: a writer fits only when nobody
    holds the lock; a reader fits when no writer holds it, and a reader that finds
    the queue non-empty queues too, so that a waiting writer blocks new readers.
    Waiters are admitted in arrival order, consecutive readers together.

    Subclasses keep ``_wlocked``, ``_writer``, ``_nreaders`` and ``_queue`` in their
    own slots, set them up with :meth:`_init_admission`, and say in :meth:`_handover`
    what becomes of the hold of a waiter that gets the lock.
    """

    __slots__ = ()
    _wlocked: bool
    _writer: Hold | None
    _nreaders: int
    _queue: collections.deque[Waiter]

    def _init_admission(self: _RWState) -> None:
        """Start unlocked, with nobody waiting."""
        self._wlocked = False
        self._writer = None
        self._nreaders = 0
        self._queue = collections.deque()

    def locked(self) -> bool:
        """Tell whether a writer or any reader holds the lock."""
        return self._wlocked or self._nreaders > 0

    @property
    def readers(self) -> int:
        """Number of read holds right now."""
        return self._nreaders

    def _state(self) -> str:
        """The state for ``repr()``: who holds the lock, how many wait."""
        if self._wlocked:
            state = "write-locked"
        elif self._nreaders:
            state = f"read-locked x{self._nreaders}"
        else:
            state = "unlocked"
        return f"{state}, waiters:{len(self._queue)}"

    def _fits(self, mode: Mode) -> bool:
        """Whether a ``mode`` request could be admitted, ignoring the queue."""
        if mode == "write":
            return not self._wlocked and not self._nreaders
        return not self._wlocked

    def _handover(self, hold: Hold) -> Hold:
        """The hold of a waiter that has just got the lock, retimed (and maybe recorded)."""
        raise NotImplementedError

    def _admit(self: _RWState, hold: Hold | None, mode: Mode) -> Hold | None:
        """Give the lock to a waiting ``mode`` request that fits; return its hold, retimed."""
        if hold is not None:
            hold = self._handover(hold)
        if mode == "write":
            self._wlocked = True
            self._writer = hold
        else:
            self._nreaders += 1
        return hold

    def _grant(self) -> None:
        """Admit waiters from the head of the queue while they fit."""
        queue = self._queue
        while queue:
            waiter = queue[0]
            if waiter.gone():
                queue.popleft()
                continue
            if not self._fits(waiter.mode):
                return
            queue.popleft()
            waiter.hold = self._admit(waiter.hold, waiter.mode)
            waiter.wake()
            if waiter.mode == "write":
                return


class RWView(Generic[_RW]):
    """One side of a readers-writer lock, ``rw.read()`` or ``rw.write()``.

    A flavour's views add ``acquire()``, ``release()`` and the context manager
    methods, which call back into the lock.
    """

    __slots__ = ("_rw",)

    def __init__(self, rw: _RW) -> None:
        self._rw = rw
