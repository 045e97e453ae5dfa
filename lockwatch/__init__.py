"""lockwatch: lock monitoring for asyncio and threading, modelled on Go's go-deadlock.

Drop-in locks that report potential deadlocks instead of hanging silently::

    import lockwatch

    members = lockwatch.aio.RWLock("room:lobby")
    async with members.read():      # many readers
        ...
    async with members.write():     # one writer; waiting writers block new readers
        ...

Five kinds of :class:`Report`:

* ``wait``: a waiter waited longer than the wait threshold (default 30 s) while
  the lock was held. Fired while it still waits; names every holder.
* ``hold``: a holder held longer than the hold threshold (default off).
* ``order``: lock-order inversion, A taken while holding B after B was taken
  while holding A.
* ``recursive``: a task or thread re-acquired a non-reentrant lock it holds.
* ``held_across_await`` (asyncio, with a suspend threshold): a task suspended on
  network I/O or a reply while holding the lock, however short the wait, or on a
  timer longer than the threshold (:mod:`.awaits` says how awaits are told
  apart). ``allow_io=True`` exempts a lock held across I/O on purpose.

Reports go to sinks (:class:`LoggingSink` by default; see :func:`configure`).
:func:`parse_reports` reads lockwatch JSONL or text and go-deadlock's output.

Good to know:

* Owners are asyncio tasks or threads. ``asyncio.wait_for(lock.acquire(), t)``
  runs the acquire in a new task, so re-acquiring that way is a wait, not
  recursion; ``async with asyncio.timeout(t)`` stays in the same task.
* Hold detection times only holds taken while a hold threshold applies; the
  uncontended path skips the clock otherwise.
* An asyncio hold is reported by a timer in its own event loop, so a loop that
  is blocked (by synchronous code) cannot report its holds until it runs again.
* ``python -m harness.bench --only lockwatch`` (``make bench``) measures the uncontended
  overhead against asyncio.Lock and threading.Lock; see docs/benchmarks.md.
"""

from __future__ import annotations

from lockwatch import aio, render, report, threads
from lockwatch.config import configure, reset
from lockwatch.parse import parse_reports
from lockwatch.report import Kind, Mode, Party, Report
from lockwatch.sinks import CallbackSink, JsonlSink, LoggingSink, MemorySink, Sink

__all__ = [
    "aio",
    "threads",
    "configure",
    "reset",
    "Report",
    "Party",
    "Kind",
    "Mode",
    "Sink",
    "CallbackSink",
    "LoggingSink",
    "JsonlSink",
    "MemorySink",
    "parse_reports",
]

# report.py cannot import render.py, which builds on it: install the renderer here.
report.set_renderer(render.render_report)
