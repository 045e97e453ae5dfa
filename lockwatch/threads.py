"""threading locks that report potential deadlocks: :class:`Lock`, :class:`RLock`, :class:`RWLock`.

The uncontended path tries the underlying lock without blocking, then records a
frame reference, its ``f_lasti`` and one registry entry for the thread; the
clock is read only when a hold threshold applies, and stacks are formatted only
when a report fires.

Wait detection lives on the contended path: the waiter blocks with a timeout
equal to the wait threshold, reports once if that expires while somebody holds
the lock, and goes on waiting. No internal lock is held while blocking. The
bookkeeping off the fast path is shared with the asyncio locks, in :mod:`.core`.
"""

from __future__ import annotations

import _thread
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, ClassVar

from lockwatch import detect, holds, watchdog
from lockwatch.core import MonitoredLock, RWAdmission, RWView, Waiter
from lockwatch.holds import LOCK, MODE, OWNER, T0, Hold, add_hold, holds_on, remove_hold
from lockwatch.options import options
from lockwatch.report import Mode

if TYPE_CHECKING:
    from lockwatch.sinks import Sink

__all__ = ["Lock", "RLock", "RWLock"]

_getframe = sys._getframe
_get_ident = threading.get_ident
_monotonic = time.monotonic
_allocate_lock = _thread.allocate_lock

# The registry, bound by assignment rather than imported by name: CPython 3.11 compiles a
# method call on a name bound by an import (``held.get(me)``) as for a module, an
# attribute load and a plain call, which costs more per call here than the method call it
# compiles for any other name (see aio.py).
held = holds.held


def _check_timeout(blocking: bool, timeout: float) -> None:
    """Reject what :meth:`threading.Lock.acquire` rejects."""
    if timeout != -1:
        if not blocking:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0:
            raise ValueError("timeout value must be a non-negative number")


def _wait(
    lock: MonitoredLock,
    attempt: Callable[[bool, float], bool],
    waiter: Hold | None,
    timeout: float,
) -> bool:
    """Block on ``attempt(True, t)`` until it succeeds or ``timeout`` (-1: none) passes.

    If ``waiter`` is given and the wait outlasts the lock's wait threshold while
    somebody holds the lock, report once and keep waiting.
    """
    start = _monotonic() if waiter is None else waiter[T0]
    deadline = None if timeout < 0 else start + timeout
    limit = None if waiter is None else lock.wait_limit()
    check = None if limit is None else start + limit
    while True:
        if check is None or limit is None or waiter is None:
            if deadline is None:
                return attempt(True, -1)
            return attempt(True, max(deadline - _monotonic(), 0.0))
        wake = check if deadline is None else min(check, deadline)
        if attempt(True, max(wake - _monotonic(), 0.0)):
            return True
        now = _monotonic()
        if deadline is not None and now >= deadline:
            return False
        if now >= check:
            # Reported once; if nobody holds it right now, look again later.
            check = None if lock._report_wait(waiter) else now + limit


class _ThreadLockBase(MonitoredLock):
    """The constructor and the hold watchdog of the threading locks."""

    __slots__ = ()

    def __init__(
        self,
        name: str,
        *,
        wait_threshold: float | None = None,
        hold_threshold: float | None = None,
        sinks: list[Sink] | None = None,
    ) -> None:
        # No suspend threshold: a thread that holds a lock has no awaits to watch.
        super().__init__(
            name, wait_threshold=wait_threshold, hold_threshold=hold_threshold, sinks=sinks
        )

    def _arm_hold(self, hold: Hold) -> None:
        limit = self.hold_limit()
        if limit is not None:
            watchdog.arm_threads(hold[T0] + limit)


class _PlainLockBase(_ThreadLockBase):
    """The monitored acquire of :class:`Lock` and :class:`RLock`, around a ``_thread`` lock."""

    __slots__ = ("_lock", "_holder")

    def _init_state(self) -> None:
        super()._init_state()
        self._lock = _allocate_lock()
        self._holder: Hold | None = None

    def _take(self, blocking: bool, timeout: float, frame: FrameType, me: int) -> Hold | None:
        """Acquire for thread ``me``, with monitoring on; return its recorded hold.

        Returns ``None`` if the lock was not acquired (not blocking, or timed out).
        """
        _check_timeout(blocking, timeout)
        mine = held.get(me)
        if mine is not None and blocking:
            detect.check_nested(self, self._asking(me, frame, "exclusive"), mine)
        if not self._lock.acquire(False):
            if not blocking:
                return None
            if not _wait(self, self._lock.acquire, self._asking(me, frame, "exclusive"), timeout):
                return None
        return self._record(self._new_hold(me, frame, "exclusive"))

    def _unlock(self) -> None:
        """Forget the holder and release the lock; report a hold held too long."""
        hold = self._holder
        pending = None
        if hold is not None:
            self._holder = None
            pending = self._end(hold)
        self._lock.release()
        if pending is not None:
            detect.emit(self, pending)

    def current_holds(self) -> list[Hold]:
        hold = self._holder
        return [] if hold is None else [hold]


class Lock(_PlainLockBase):
    """A non-reentrant lock, like :class:`threading.Lock`, that reports deadlocks.

    ``with lock:``, ``acquire(blocking=True, timeout=-1)``, ``release()`` and
    ``locked()`` behave as with :class:`threading.Lock`; any thread may release.

    Args:
        name: shown in reports.
        wait_threshold: overrides the global wait threshold (``0``: off).
        hold_threshold: overrides the global hold threshold (``0``: off).
        sinks: overrides the global sinks.
    """

    __slots__ = ()

    def locked(self) -> bool:
        """Tell whether the lock is held."""
        return self._lock.locked()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock; see :meth:`threading.Lock.acquire`."""
        return self._acquire(blocking, timeout, _getframe(1))

    def _acquire(self, blocking: bool, timeout: float, frame: FrameType) -> bool:
        if not options.enabled:
            return self._lock.acquire(blocking, timeout)
        hold = self._take(blocking, timeout, frame, _get_ident())
        if hold is None:
            return False
        self._holder = hold
        return True

    def release(self) -> None:
        """Release the lock.

        Raises:
            RuntimeError: if the lock is not held.
        """
        self._unlock()

    def __enter__(self) -> bool:
        # The uncontended path of _acquire(), inlined: a copy kept for speed (make bench).
        if options.enabled:
            me = _get_ident()
            if me not in held and self._lock.acquire(False):
                frame = _getframe(1)
                t0 = (  # read the clock only if a hold threshold may apply
                    0.0
                    if self._hold_threshold is None and options.hold_threshold is None
                    else _monotonic()
                )
                hold: Hold = (self, me, frame, frame.f_lasti, t0, "exclusive")
                self._holder = hold
                held[me] = hold
                if t0:
                    self._arm_hold(hold)
                return True
            return self._acquire(True, -1, _getframe(1))
        return self._lock.acquire()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # The common cases of release(), inlined.
        hold = self._holder
        if hold is None:  # taken while lockwatch was off
            self._lock.release()
            return
        if hold[T0]:
            self.release()
            return
        self._holder = None
        owner = hold[OWNER]
        if held.get(owner) is hold:
            held.pop(owner, None)
        else:
            remove_hold(hold)
        self._lock.release()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<lockwatch.threads.Lock {self.name!r} [{state}]>"


class RLock(_PlainLockBase):
    """A reentrant lock, like :class:`threading.RLock`, that reports deadlocks.

    Re-acquiring by the owning thread is fine and never reported; only the
    outermost acquisition is recorded. Works with :class:`threading.Condition`.
    The arguments are those of :class:`Lock`.
    """

    __slots__ = ("_owner", "_count")

    def _init_state(self) -> None:
        super()._init_state()
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock; see :meth:`threading.RLock.acquire`."""
        return self._acquire(blocking, timeout, _getframe(1))

    def _acquire(self, blocking: bool, timeout: float, frame: FrameType) -> bool:
        me = _get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not options.enabled:
            if not self._lock.acquire(blocking, timeout):
                return False
            self._owner = me
            self._count = 1
            return True
        hold = self._take(blocking, timeout, frame, me)
        if hold is None:
            return False
        self._owner = me
        self._count = 1
        self._holder = hold
        return True

    def release(self) -> None:
        """Release one level; the last one releases the lock.

        Raises:
            RuntimeError: if the calling thread does not own the lock.
        """
        if self._owner != _get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._release_outermost()

    def _release_outermost(self) -> None:
        self._owner = None  # before another thread can take the lock
        self._unlock()

    def __enter__(self) -> bool:
        # The uncontended paths of _acquire(), inlined: a copy kept for speed (make bench).
        me = _get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if options.enabled:
            if me not in held and self._lock.acquire(False):
                self._owner = me
                self._count = 1
                frame = _getframe(1)
                t0 = (  # read the clock only if a hold threshold may apply
                    0.0
                    if self._hold_threshold is None and options.hold_threshold is None
                    else _monotonic()
                )
                hold: Hold = (self, me, frame, frame.f_lasti, t0, "exclusive")
                self._holder = hold
                held[me] = hold
                if t0:
                    self._arm_hold(hold)
                return True
            return self._acquire(True, -1, _getframe(1))
        self._lock.acquire()
        self._owner = me
        self._count = 1
        return True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # release(), with the common case of _release_outermost() inlined.
        if self._owner != _get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count:
            return
        hold = self._holder
        if hold is not None:
            if hold[T0]:
                self._release_outermost()
                return
            self._holder = None
            owner = hold[OWNER]
            if held.get(owner) is hold:
                held.pop(owner, None)
            else:
                remove_hold(hold)
        self._owner = None
        self._lock.release()

    # threading.Condition support.

    def _is_owned(self) -> bool:
        return self._owner == _get_ident()

    def _release_save(self) -> tuple[int, int | None]:
        state = (self._count, self._owner)
        self._count = 1
        self.release()
        return state

    def _acquire_restore(self, state: tuple[int, int | None]) -> None:
        self._acquire(True, -1, _getframe(1))
        self._count = state[0]

    def __repr__(self) -> str:
        state = f"owner={self._owner} count={self._count}" if self._owner else "unlocked"
        return f"<lockwatch.threads.RLock {self.name!r} [{state}]>"


class _Waiter(Waiter):
    """A thread blocked on a lock of its own, which whoever grants it releases."""

    __slots__ = ("blocker", "granted")

    def __init__(self, hold: Hold | None, mode: Mode) -> None:
        super().__init__(hold, mode)
        self.blocker = _allocate_lock()
        self.blocker.acquire()  # released by whoever grants the lock
        self.granted = False

    def gone(self) -> bool:
        return False  # a waiter that gives up leaves the queue itself, under the mutex

    def wake(self) -> None:
        self.granted = True
        self.blocker.release()


class _View(RWView["RWLock"]):
    """What both sides of an :class:`RWLock` do alike."""

    __slots__ = ()
    _MODE: ClassVar[Mode]

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire this side; arguments as for :meth:`threading.Lock.acquire`."""
        return self._rw._acquire(blocking, timeout, _getframe(1), self._MODE)


class _ReadView(_View):
    """``rw.read()``: the shared side of an :class:`RWLock`."""

    __slots__ = ()
    _MODE = "read"

    def release(self) -> None:
        """Release one read hold."""
        self._rw._release_read()

    def __enter__(self) -> bool:
        # The uncontended paths of RWLock._acquire(..., "read"), inlined: kept for speed.
        rw = self._rw
        mutex = rw._mutex
        if not options.enabled:
            mutex.acquire()
            if not rw._wlocked and not rw._queue:
                rw._nreaders += 1
                mutex.release()
                return True
            mutex.release()
        else:
            me = _get_ident()
            if me not in held:
                mutex.acquire()
                if not rw._wlocked and not rw._queue:
                    rw._nreaders += 1
                    mutex.release()
                    frame = _getframe(1)
                    t0 = (  # read the clock only if a hold threshold may apply
                        0.0
                        if rw._hold_threshold is None and options.hold_threshold is None
                        else _monotonic()
                    )
                    hold: Hold = (rw, me, frame, frame.f_lasti, t0, "read")
                    held[me] = hold
                    if t0:
                        rw._arm_hold(hold)
                    return True
                mutex.release()
        return rw._acquire(True, -1, _getframe(1), "read")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # The common cases of RWLock._release_read(), inlined: nothing is
        # recorded anywhere (lockwatch disabled), or the thread holds exactly
        # this one untimed read hold.
        rw = self._rw
        if held:
            me = _get_ident()
            hold = held.get(me)
            if not (
                type(hold) is tuple and hold[LOCK] is rw and not hold[T0] and hold[MODE] == "read"
            ):
                rw._release_read()
                return
            del held[me]
        mutex = rw._mutex
        mutex.acquire()
        if rw._nreaders <= 0:
            mutex.release()
            raise RuntimeError("RWLock is not read-locked.")
        rw._nreaders -= 1
        if rw._queue and not rw._nreaders:
            rw._grant()
        mutex.release()


class _WriteView(_View):
    """``rw.write()``: the exclusive side of an :class:`RWLock`."""

    __slots__ = ()
    _MODE = "write"

    def release(self) -> None:
        """Release the write hold."""
        self._rw._release_write()

    def __enter__(self) -> bool:
        return self._rw._acquire(True, -1, _getframe(1), "write")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._rw._release_write()


class RWLock(_ThreadLockBase, RWAdmission):
    """A writer-preferring readers-writer lock for threads that reports deadlocks.

    ``with rw.read():`` admits any number of readers, ``with rw.write():`` one
    writer. Like Go's ``sync.RWMutex``, once a writer waits, new readers queue
    behind it; waiters are served in arrival order, consecutive readers
    together. Taking the read side twice in one thread can therefore deadlock
    against a waiting writer; lockwatch reports that as recursive locking.

    Both sides also offer ``acquire(blocking=True, timeout=-1)`` and ``release()``.
    The arguments are those of :class:`Lock`.
    """

    # Read holds are recorded only in the registry (holds.held), which reports
    # scan; the lock itself counts them.
    __slots__ = (
        "_mutex",
        "_wlocked",
        "_writer",
        "_nreaders",
        "_queue",
        "_read_view",
        "_write_view",
    )

    def _init_state(self) -> None:
        super()._init_state()
        # Guards the fields below; held only for a few field updates, never
        # while blocking or reporting.
        self._mutex = _allocate_lock()
        self._init_admission()
        self._read_view = _ReadView(self)
        self._write_view = _WriteView(self)

    def read(self) -> _ReadView:
        """The read side: ``with rw.read(): ...``."""
        return self._read_view

    def write(self) -> _WriteView:
        """The write side: ``with rw.write(): ...``."""
        return self._write_view

    def _acquire(self, blocking: bool, timeout: float, frame: FrameType, mode: Mode) -> bool:
        _check_timeout(blocking, timeout)
        enabled = options.enabled
        me = _get_ident()
        mine = held.get(me) if enabled else None
        if mine is not None and blocking:
            detect.check_nested(self, self._asking(me, frame, mode), mine)
        mutex = self._mutex
        mutex.acquire()
        if self._queue or not self._fits(mode):
            if not blocking:
                mutex.release()
                return False
            waiter = _Waiter(self._asking(me, frame, mode) if enabled else None, mode)
            self._queue.append(waiter)
            mutex.release()
            return self._wait_granted(waiter, timeout)
        if mode == "write":
            self._wlocked = True
        else:
            self._nreaders += 1
        if not enabled:
            mutex.release()
            return True
        # The uncontended path of the write side (and of acquire()), inlined: calling
        # _new_hold() and _record() here costs about a tenth of threads.RWLock write.
        t0 = _monotonic() if self._timed() else 0.0
        hold: Hold = (self, me, frame, frame.f_lasti, t0, mode)
        if mode == "write":
            self._writer = hold  # under the mutex, so that a racing release finds it
        mutex.release()
        if mine is None:
            held[me] = hold
        else:
            add_hold(me, hold)
        if t0:
            self._arm_hold(hold)
        return True

    def _wait_granted(self, waiter: _Waiter, timeout: float) -> bool:
        if not _wait(self, waiter.blocker.acquire, waiter.hold, timeout):
            with self._mutex:
                if not waiter.granted:
                    self._queue.remove(waiter)
                    self._grant()  # a writer leaving the queue may let readers in
                    return False
        if waiter.hold is not None:  # retimed by _admit()
            self._record(waiter.hold)
        return True

    def _handover(self, hold: Hold) -> Hold:
        # Runs under the mutex (_grant() needs it). The woken thread records the
        # hold itself: each registry entry is changed only by its own owner.
        return self._retimed(hold)

    def _release_read(self) -> None:
        with self._mutex:
            if self._nreaders <= 0:
                raise RuntimeError("RWLock is not read-locked.")
            self._nreaders -= 1
            remaining = self._nreaders
            if self._queue and not remaining:
                self._grant()
        pending = self._end_read(_get_ident(), remaining)
        if pending is not None:
            detect.emit(self, pending)

    def _release_write(self) -> None:
        with self._mutex:
            if not self._wlocked:
                raise RuntimeError("RWLock is not write-locked.")
            hold = self._writer
            self._writer = None
            self._wlocked = False
            if self._queue:
                self._grant()
        if hold is not None:
            pending = self._end(hold)
            if pending is not None:
                detect.emit(self, pending)

    def current_holds(self) -> list[Hold]:
        return holds_on(self)

    def __repr__(self) -> str:
        return f"<lockwatch.threads.RWLock {self.name!r} [{self._state()}]>"
