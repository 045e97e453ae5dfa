"""Hold watchdogs: report holds that outlast their threshold while still held.

Nothing runs until a lock with a hold threshold is taken. Then:

* asyncio: one timer per event loop (``loop.call_later``), re-armed for the next
  due hold and dropped when the loop has no more holds to watch. Reports run in
  the loop, like every other asyncio report.
* threading: one daemon thread, started on first need, sleeping until the next
  due hold.

A lock's acquire path calls :func:`arm_loop` or :func:`arm_threads` only when the
new hold is due before the watchdog's next wake-up, which is rare.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from lockwatch.detect import scan_holds
from lockwatch.holds import OWNER, Hold

__all__ = ["loop_watches", "arm_loop", "thread_watch", "arm_threads"]


class LoopWatch:
    """The hold watchdog of one event loop."""

    __slots__ = ("loop", "due", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.due = math.inf
        self.handle: asyncio.TimerHandle | None = None

    def _accept(self, hold: Hold) -> bool:
        owner = hold[OWNER]
        return isinstance(owner, asyncio.Task) and owner.get_loop() is self.loop

    def scan(self) -> None:
        self.handle = None
        self.due = math.inf
        next_due = scan_holds(self._accept)
        if next_due is None:
            if loop_watches.get(self.loop) is self:
                del loop_watches[self.loop]
        else:
            self.arm(next_due)

    def arm(self, due: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.due = due
        # A millisecond late rather than early, so the hold is overdue on arrival.
        delay = max(due - time.monotonic(), 0.0) + 0.001
        self.handle = self.loop.call_later(delay, self.scan)


loop_watches: dict[asyncio.AbstractEventLoop, LoopWatch] = {}
"""Active watchdogs by loop. Fast paths read it to skip :func:`arm_loop`."""


def arm_loop(loop: asyncio.AbstractEventLoop, due: float) -> None:
    """Make sure the watchdog of ``loop`` wakes up by ``due`` (``time.monotonic()``)."""
    watch = loop_watches.get(loop)
    if watch is None:
        # Forget loops that closed while holds were still being watched.
        for closed in [other for other in loop_watches if other.is_closed()]:
            del loop_watches[closed]
        watch = loop_watches[loop] = LoopWatch(loop)
    if due < watch.due:
        watch.arm(due)


class ThreadWatch:
    """The hold watchdog of the threading flavour."""

    MAX_SLEEP = 1.0
    """Rescan at least this often, as a safety net."""

    def __init__(self) -> None:
        self.due = math.inf
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def arm(self, due: float) -> None:
        """Wake up by ``due``; start the watchdog thread if needed."""
        with self._cond:
            if due < self.due:
                self.due = due
                self._cond.notify()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="lockwatch-hold-watchdog", daemon=True
                )
                self._thread.start()

    @staticmethod
    def _accept(hold: Hold) -> bool:
        return isinstance(hold[OWNER], int)

    def _run(self) -> None:
        while True:
            with self._cond:
                delay = self.due - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, self.MAX_SLEEP))
                    if self.due - time.monotonic() > 0 and self.due != math.inf:
                        continue
                # Reset before scanning: a hold recorded after this point sees
                # due == inf and arms us again; one recorded before is scanned.
                self.due = math.inf
            next_due = scan_holds(self._accept)
            if next_due is not None:
                with self._cond:
                    self.due = min(self.due, next_due)


thread_watch = ThreadWatch()


def arm_threads(due: float) -> None:
    """Make sure the threading watchdog wakes up by ``due`` (``time.monotonic()``)."""
    if due < thread_watch.due:
        thread_watch.arm(due)
