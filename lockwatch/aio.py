"""asyncio locks that report potential deadlocks: :class:`Lock` and :class:`RWLock`.

Both keep their own state instead of wrapping :class:`asyncio.Lock`, and hand the
lock directly to the first waiter on release (FIFO, no barging). On the
uncontended path ``async with`` creates no coroutine: ``__aenter__`` and
``__aexit__`` return an already completed future. Bookkeeping there is a frame
reference, its ``f_lasti`` and one registry entry for the owning task; the clock
is read only when a hold threshold applies, and stacks are formatted only when a
report fires.

Wait detection lives on the contended path: a waiter arms a ``loop.call_later``
timer and reports once, while still waiting, if it waits longer than the wait
threshold while somebody holds the lock. The bookkeeping off the fast path is
shared with the threading locks, in :mod:`.core`.

Like :class:`asyncio.Lock`, these locks are not thread-safe: use each one from
one event loop.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from types import FrameType
from typing import Any, ClassVar, Literal

from lockwatch import detect, holds, suspend, watchdog
from lockwatch.core import MonitoredLock, RWAdmission, RWView, Waiter
from lockwatch.holds import LOCK, OWNER, T0, Hold, holds_on, remove_hold
from lockwatch.options import options
from lockwatch.report import Mode

__all__ = ["Lock", "RWLock"]

_getframe = sys._getframe
_monotonic = time.monotonic
_loop_watches = watchdog.loop_watches

# The registry, bound by assignment rather than imported by name: CPython 3.11 compiles a
# method call on a name bound by an import (``held.get(task)``) as for a module, an
# attribute load and a plain call, which costs 50-60 ns more per call here than the method
# call it compiles for any other name (docs/benchmarks.md, section 1).
held = holds.held


class _CurrentTasks:
    """Stand-in for ``asyncio.tasks._current_tasks`` where CPython lacks it."""

    @staticmethod
    def get(loop: asyncio.AbstractEventLoop | None) -> asyncio.Task[Any] | None:
        if loop is None:
            return None
        try:
            return asyncio.current_task(loop)
        except RuntimeError:
            return None


# CPython 3.11 keeps the current task of each loop in this dict. Reading it with
# the lock's cached loop avoids asyncio.current_task(), whose
# get_running_loop() makes a getpid() system call on every call.
_current_tasks: Any = getattr(asyncio.tasks, "_current_tasks", None)
if not isinstance(_current_tasks, dict):
    _current_tasks = _CurrentTasks()

# A completed future, returned by the uncontended path. It can be awaited any
# number of times, from any loop, and returns at once without suspending.
_done: asyncio.Future[None] | None = None


def _make_done() -> asyncio.Future[None]:
    global _done
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    _done = future
    return future


class _Waiter(Waiter):
    """A task waiting on a future; its wait timer, while one is armed."""

    __slots__ = ("future", "timer")

    def __init__(self, future: asyncio.Future[None], hold: Hold | None, mode: Mode) -> None:
        super().__init__(hold, mode)
        self.future = future
        self.timer: asyncio.TimerHandle | None = None

    def gone(self) -> bool:
        return self.future.done()  # cancelled while waiting

    def wake(self) -> None:
        self.future.set_result(None)


class _AioLockBase(MonitoredLock):
    """Loop binding, the hold watchdog and wait timers, shared by both locks."""

    __slots__ = ("_loop", "_entry_loop")
    _loop: asyncio.AbstractEventLoop | None  # the loop it was last used in
    # The loop the uncontended acquire finds its task by; None sends it to _bind(). The
    # held-across-await follower clears it each time it runs (see suspend.py), so the
    # first acquire after that tells the follower, at no cost to the others.
    _entry_loop: asyncio.AbstractEventLoop | None

    def _init_state(self) -> None:
        self._loop = None
        self._entry_loop = None

    def _bind(self) -> asyncio.Task[Any] | None:
        """Find the current task the slow way; tell the loop's follower, if it has one."""
        loop = self._loop
        task = None if loop is None else _current_tasks.get(loop)
        if task is None or loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
            self._loop = loop
            task = _current_tasks.get(loop)
        watch = None
        if self.suspend_limit() is not None:
            watch = suspend.watches.get(loop)
            if watch is None:
                suspend.arm(loop)
                watch = suspend.watches.get(loop)
        if watch is None:
            self._entry_loop = loop
            suspend.unwatched.add(self)
        else:
            watch.step_taken(self)
        return task

    def _record(self, hold: Hold) -> Hold:
        # A hold handed to a waiter: the follower looks at the waiter after its next step.
        hold = super()._record(hold)
        if self._loop is not None and self.suspend_limit() is not None:
            watch = suspend.watches.get(self._loop)
            if watch is not None:
                watch.step_taken()
        return hold

    def _arm_suspend(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the held-across-await sampler of ``loop`` if this lock wants one."""
        if loop not in suspend.watches and suspend.wanted(self._suspend_threshold):
            suspend.arm(loop)

    def _arm_hold(self, hold: Hold) -> None:
        limit = self.hold_limit()
        if limit is not None and self._loop is not None:
            due = hold[T0] + limit
            watch = _loop_watches.get(self._loop)
            if watch is None or due < watch.due:
                watchdog.arm_loop(self._loop, due)

    def _take(self, frame: FrameType, mode: Mode) -> Hold:
        """Record a hold that the current task takes now, without waiting.

        The uncontended path of ``acquire()``; ``async with`` inlines it.
        """
        task = _current_tasks.get(self._entry_loop)
        if task is None:
            task = self._bind()
        hold = self._new_hold(task, frame, mode)
        mine = held.get(task)
        if mine is None:
            held[task] = hold
        else:
            detect.register_nested(self, hold, mine)
        if hold[T0]:
            self._arm_hold(hold)
        return hold

    def _waiter_hold(self, frame: FrameType, mode: Mode, loop: asyncio.AbstractEventLoop) -> Hold:
        """Hold of a new waiter, checked for recursion and lock-order inversion first."""
        task = _current_tasks.get(loop)
        hold = self._asking(task, frame, mode)
        mine = held.get(task)
        if mine is not None:
            detect.check_nested(self, hold, mine)
        return hold

    def _arm_wait(self, loop: asyncio.AbstractEventLoop, waiter: _Waiter) -> None:
        limit = self.wait_limit()
        if limit is not None and waiter.hold is not None:
            waiter.timer = loop.call_later(limit, self._wait_expired, loop, waiter, limit)

    def _wait_expired(self, loop: asyncio.AbstractEventLoop, waiter: _Waiter, limit: float) -> None:
        waiter.timer = None
        if waiter.future.done() or waiter.hold is None:
            return
        if not self._report_wait(waiter.hold):  # nobody holds it right now: look again later
            waiter.timer = loop.call_later(limit, self._wait_expired, loop, waiter, limit)


class Lock(_AioLockBase):
    """A non-reentrant asyncio lock, like :class:`asyncio.Lock`, that reports deadlocks.

    ``async with lock:``, ``await lock.acquire()``, ``lock.release()`` and
    ``lock.locked()`` behave as with :class:`asyncio.Lock`.

    Args:
        name: shown in reports.
        wait_threshold: overrides the global wait threshold (``0``: off).
        hold_threshold: overrides the global hold threshold (``0``: off).
        suspend_threshold: overrides the global suspend threshold (``0``: off),
            see :mod:`lockwatch.suspend`.
        allow_io: ``True``: held across I/O on purpose, never reported held
            across an await (the same as ``suspend_threshold=0``).
        sinks: overrides the global sinks.
    """

    __slots__ = ("_locked", "_holder", "_waiters")

    def _init_state(self) -> None:
        super()._init_state()
        self._locked = False
        self._holder: Hold | None = None
        self._waiters: collections.deque[_Waiter] = collections.deque()

    def locked(self) -> bool:
        """Tell whether the lock is held."""
        return self._locked

    async def acquire(self) -> Literal[True]:
        """Acquire the lock, waiting if needed, and return ``True``."""
        await self._enter(_getframe(1))
        return True

    def _enter(self, frame: FrameType) -> Any:
        # __aenter__ inlines this body, with _take(); keep the two in sync.
        if self._locked or self._waiters:
            return self._contended(frame)
        self._locked = True
        if options.enabled:
            self._holder = self._take(frame, "exclusive")
        return _done or _make_done()

    def __aenter__(self) -> Any:
        # The body of _enter(), inlined: a copy kept for speed, since calling _take() here
        # and in the views' __aenter__ costs about a tenth of an uncontended acquire.
        if self._locked or self._waiters:
            return self._contended(_getframe(1))
        self._locked = True
        if options.enabled:
            task = _current_tasks.get(self._entry_loop)
            if task is None:
                task = self._bind()
            frame = _getframe(1)
            t0 = (  # read the clock only if a hold threshold may apply
                0.0
                if self._hold_threshold is None and options.hold_threshold is None
                else _monotonic()
            )
            hold: Hold = (self, task, frame, frame.f_lasti, t0, "exclusive")
            mine = held.get(task)
            if mine is None:
                held[task] = hold
            else:
                detect.register_nested(self, hold, mine)
            self._holder = hold
            if t0:
                self._arm_hold(hold)
        return _done or _make_done()

    def __aexit__(self, exc_type: object, exc: object, tb: object) -> asyncio.Future[None]:
        hold = self._holder
        if hold is None or hold[T0] or self._waiters:
            self.release()
        else:  # the common case of release(), inlined
            self._holder = None
            owner = hold[OWNER]
            if held.get(owner) is hold:
                del held[owner]
            else:
                remove_hold(hold)
            self._locked = False
        return _done or _make_done()

    async def _contended(self, frame: FrameType) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._arm_suspend(loop)
        hold = self._waiter_hold(frame, "exclusive", loop) if options.enabled else None
        if not self._locked and not self._waiters:
            self._locked = True
            self._holder = None if hold is None else self._granted(hold)
            return
        waiter = _Waiter(loop.create_future(), hold, "exclusive")
        self._waiters.append(waiter)
        self._arm_wait(loop, waiter)
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release()  # handed over just before the cancellation: pass it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()

    def release(self) -> None:
        """Release the lock, handing it to the first waiter if any.

        Raises:
            RuntimeError: if the lock is not held.
        """
        if not self._locked:
            raise RuntimeError("Lock is not acquired.")
        hold = self._holder
        pending = None
        if hold is not None:
            self._holder = None
            pending = self._end(hold)
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if waiter.gone():
                continue
            if waiter.hold is not None:
                self._holder = self._granted(waiter.hold)
            waiter.wake()
            break
        else:
            self._locked = False
        if pending is not None:
            detect.emit(self, pending)

    def current_holds(self) -> list[Hold]:
        hold = self._holder
        return [] if hold is None else [hold]

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<lockwatch.aio.Lock {self.name!r} [{state}, waiters:{len(self._waiters)}]>"


class _View(RWView["RWLock"]):
    """What both sides of an :class:`RWLock` do alike."""

    __slots__ = ()
    _MODE: ClassVar[Mode]

    async def acquire(self) -> Literal[True]:
        """Acquire this side, waiting if needed, and return ``True``."""
        await self._rw._enter(_getframe(1), self._MODE)
        return True


class _ReadView(_View):
    """``rw.read()``: the shared side of an :class:`RWLock`."""

    __slots__ = ()
    _MODE = "read"

    def release(self) -> None:
        """Release one read hold."""
        self._rw._release_read()

    def __aenter__(self) -> Any:
        # RWLock._enter(frame, "read"), inlined: a copy kept for speed, as in Lock.__aenter__.
        rw = self._rw
        if rw._wlocked or rw._queue:
            return rw._contended(_getframe(1), "read")
        rw._nreaders += 1
        if options.enabled:
            task = _current_tasks.get(rw._entry_loop)
            if task is None:
                task = rw._bind()
            frame = _getframe(1)
            t0 = (  # read the clock only if a hold threshold may apply
                0.0
                if rw._hold_threshold is None and options.hold_threshold is None
                else _monotonic()
            )
            hold: Hold = (rw, task, frame, frame.f_lasti, t0, "read")
            mine = held.get(task)
            if mine is None:
                held[task] = hold
            else:
                detect.register_nested(rw, hold, mine)
            if t0:
                rw._arm_hold(hold)
        return _done or _make_done()

    def __aexit__(self, exc_type: object, exc: object, tb: object) -> asyncio.Future[None]:
        # The common cases of RWLock._release_read(), inlined: nothing is
        # recorded anywhere (lockwatch disabled), or the task holds exactly
        # this one untimed read hold. (A single hold of this lock while there
        # are readers must be a read hold.)
        rw = self._rw
        if rw._nreaders > 0:
            if not held:
                rw._nreaders -= 1
                if rw._queue and not rw._nreaders:
                    rw._grant()
                return _done or _make_done()
            task = _current_tasks.get(rw._loop)
            hold = held.get(task)
            if type(hold) is tuple and hold[LOCK] is rw and not hold[T0]:
                del held[task]
                rw._nreaders -= 1
                if rw._queue and not rw._nreaders:
                    rw._grant()
                return _done or _make_done()
        rw._release_read()
        return _done or _make_done()


class _WriteView(_View):
    """``rw.write()``: the exclusive side of an :class:`RWLock`."""

    __slots__ = ()
    _MODE = "write"

    def release(self) -> None:
        """Release the write hold."""
        self._rw._release_write()

    def __aenter__(self) -> Any:
        # RWLock._enter(frame, "write"), inlined: a copy kept for speed, as in Lock.__aenter__.
        rw = self._rw
        if rw._wlocked or rw._nreaders or rw._queue:
            return rw._contended(_getframe(1), "write")
        rw._wlocked = True
        if options.enabled:
            task = _current_tasks.get(rw._entry_loop)
            if task is None:
                task = rw._bind()
            frame = _getframe(1)
            t0 = (  # read the clock only if a hold threshold may apply
                0.0
                if rw._hold_threshold is None and options.hold_threshold is None
                else _monotonic()
            )
            hold: Hold = (rw, task, frame, frame.f_lasti, t0, "write")
            rw._writer = hold
            mine = held.get(task)
            if mine is None:
                held[task] = hold
            else:
                detect.register_nested(rw, hold, mine)
            if t0:
                rw._arm_hold(hold)
        return _done or _make_done()

    def __aexit__(self, exc_type: object, exc: object, tb: object) -> asyncio.Future[None]:
        # The common case of RWLock._release_write(), inlined for speed, as in Lock.__aexit__.
        rw = self._rw
        hold = rw._writer
        if hold is None or hold[T0] or rw._queue:
            rw._release_write()
        else:
            rw._writer = None
            rw._wlocked = False
            owner = hold[OWNER]
            if held.get(owner) is hold:
                del held[owner]
            else:
                remove_hold(hold)
        return _done or _make_done()


class RWLock(_AioLockBase, RWAdmission):
    """A writer-preferring asyncio readers-writer lock that reports deadlocks.

    ``async with rw.read():`` admits any number of readers, ``async with
    rw.write():`` one writer. Like Go's ``sync.RWMutex``, once a writer waits,
    new readers queue behind it, so a steady stream of readers cannot starve a
    writer. Waiters are served in arrival order, consecutive readers together.
    A task that takes the read side twice can therefore deadlock against a
    waiting writer; lockwatch reports that as recursive locking.

    Both sides also offer ``await acquire()`` and ``release()``. The arguments are
    those of :class:`Lock`.
    """

    # Read holds are recorded only in the registry (holds.held), which reports
    # scan; the lock itself counts them.
    __slots__ = ("_wlocked", "_writer", "_nreaders", "_queue", "_read_view", "_write_view")

    def _init_state(self) -> None:
        super()._init_state()
        self._init_admission()
        self._read_view = _ReadView(self)
        self._write_view = _WriteView(self)

    def read(self) -> _ReadView:
        """The read side: ``async with rw.read(): ...``."""
        return self._read_view

    def write(self) -> _WriteView:
        """The write side: ``async with rw.write(): ...``."""
        return self._write_view

    def _enter(self, frame: FrameType, mode: Mode) -> Any:
        # The views' __aenter__ inline this body, with _take(); keep them in sync.
        if self._queue or not self._fits(mode):
            return self._contended(frame, mode)
        if mode == "write":
            self._wlocked = True
        else:
            self._nreaders += 1
        if options.enabled:
            hold = self._take(frame, mode)
            if mode == "write":
                self._writer = hold
        return _done or _make_done()

    def _release_read(self) -> None:
        if self._nreaders <= 0:
            raise RuntimeError("RWLock is not read-locked.")
        self._nreaders -= 1
        pending = self._end_read(_current_tasks.get(self._loop), self._nreaders)
        if self._queue and not self._nreaders:
            self._grant()
        if pending is not None:
            detect.emit(self, pending)

    def _release_write(self) -> None:
        if not self._wlocked:
            raise RuntimeError("RWLock is not write-locked.")
        hold = self._writer
        self._writer = None
        self._wlocked = False
        pending = None if hold is None else self._end(hold)
        if self._queue:
            self._grant()
        if pending is not None:
            detect.emit(self, pending)

    def _handover(self, hold: Hold) -> Hold:
        # One loop runs every task of this lock: record the hold right away.
        return self._granted(hold)

    async def _contended(self, frame: FrameType, mode: Mode) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._arm_suspend(loop)
        hold = self._waiter_hold(frame, mode, loop) if options.enabled else None
        queue = self._queue
        while queue and queue[0].gone():
            queue.popleft()
        if not queue and self._fits(mode):
            self._admit(hold, mode)
            return
        waiter = _Waiter(loop.create_future(), hold, mode)
        queue.append(waiter)
        self._arm_wait(loop, waiter)
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                # Granted just before the cancellation landed: give it back.
                if mode == "write":
                    self._release_write()
                else:
                    self._release_read()
            else:
                try:
                    queue.remove(waiter)
                except ValueError:
                    pass
                self._grant()  # a writer leaving the queue may let readers in
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()

    def current_holds(self) -> list[Hold]:
        return holds_on(self)

    def __repr__(self) -> str:
        return f"<lockwatch.aio.RWLock {self.name!r} [{self._state()}]>"
