"""Build reports from holds and hand them to sinks.

Called only off the fast path: when a wait or hold is overdue, or when an owner
that already holds a monitored lock asks for another. Building a report formats
stacks; nothing here blocks on a monitored lock, and no internal lock is held
while a sink runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from lockwatch.frames import coro_chain, format_snaps, is_internal, line_of, short_file, site, snap
from lockwatch.holds import (
    FRAME,
    LASTI,
    LOCK,
    MODE,
    OWNER,
    T0,
    Hold,
    LockBase,
    add_hold,
    all_holds,
    reported_holds,
)
from lockwatch.options import options
from lockwatch.order import Sighting, history
from lockwatch.owners import describe, frames_at_acquire, frames_now, short_repr
from lockwatch.report import Kind, Party, Report
from lockwatch.sinks import dispatch

__all__ = [
    "party",
    "emit",
    "wait_report",
    "overdue_report",
    "release_report",
    "claim_hold",
    "check_nested",
    "register_nested",
    "scan_holds",
    "suspend_report",
    "describe_awaited",
]

logger = logging.getLogger("lockwatch")


def party(hold: Hold) -> Party:
    """Describe the owner of ``hold``: where it asked for the lock, what it does now."""
    owner, frame, lasti = hold[OWNER], hold[FRAME], hold[LASTI]
    name, ident = describe(owner)
    now = frames_now(owner)
    acquired = frames_at_acquire(owner, frame, now)
    return Party(
        name=name,
        ident=ident,
        mode=hold[MODE],
        acquire_site=site(frame.f_code, lasti),
        acquire_stack=format_snaps(snap(acquired, (frame, lasti))),
        current_stack=format_snaps(snap(now)),
    )


def emit(lock: LockBase, report: Report) -> None:
    """Send ``report`` to the sinks of ``lock``."""
    dispatch(report, lock.report_sinks())


def _guarded(build: Callable[..., Report | None], *args: object) -> Report | None:
    try:
        return build(*args)
    except Exception:  # a bug here must never break the lock
        logger.exception("lockwatch: failed to build a report")
        return None


def wait_report(lock: LockBase, waiter: Hold) -> Report | None:
    """Report ``waiter`` waiting for ``lock``; ``None`` if nobody holds it right now."""

    def build() -> Report | None:
        holds = lock.current_holds()
        if not holds:
            return None
        return Report(
            kind="wait",
            lock=lock.name,
            duration_s=time.monotonic() - waiter[T0],
            time=time.time(),
            subject=party(waiter),
            holders=[party(h) for h in holds],
        )

    return _guarded(build)


def claim_hold(hold: Hold) -> bool:
    """Mark ``hold`` as reported; ``False`` if it already was."""
    token = object()
    return reported_holds.setdefault(id(hold), (hold, token))[1] is token


def _hold_report(lock: LockBase, hold: Hold) -> Report:
    holds = lock.current_holds()
    if not any(h is hold for h in holds):
        holds.append(hold)  # being released
    holders = [party(h) for h in holds]
    subject = holders[next(i for i, h in enumerate(holds) if h is hold)]
    return Report(
        kind="hold",
        lock=lock.name,
        duration_s=time.monotonic() - hold[T0],
        time=time.time(),
        subject=subject,
        holders=holders,
    )


def overdue_report(lock: LockBase, hold: Hold) -> Report | None:
    """Report ``hold``, still held, as held too long; ``None`` if already reported."""
    if not claim_hold(hold):
        return None
    return _guarded(_hold_report, lock, hold)


def release_report(lock: LockBase, hold: Hold) -> Report | None:
    """Check a timed ``hold`` being released; report it if overdue and not yet reported."""
    limit = lock.hold_limit()
    report = None
    if limit is not None and time.monotonic() - hold[T0] >= limit and claim_hold(hold):
        report = _guarded(_hold_report, lock, hold)
    reported_holds.pop(id(hold), None)
    return report


def _acquiring_report(kind: Kind, lock: LockBase, acquiring: Hold, **details: Any) -> Report:
    """A report on an owner asking for ``lock`` (``details``: the report's other fields)."""
    return Report(
        kind=kind,
        lock=lock.name,
        duration_s=0.0,
        time=time.time(),
        subject=party(acquiring),
        holders=[party(h) for h in lock.current_holds()],
        **details,
    )


def _recursive_report(lock: LockBase, acquiring: Hold) -> Report:
    return _acquiring_report("recursive", lock, acquiring)


def _order_report(
    lock: LockBase, acquiring: Hold, holding: Hold, earlier: tuple[Sighting, Sighting]
) -> Report:
    other = holding[LOCK]
    return _acquiring_report(
        "order",
        lock,
        acquiring,
        other_lock=other.name,
        earlier=[earlier[0].party(), earlier[1].party()],
        other_holders=[party(h) for h in other.current_holds()],
    )


def check_nested(lock: LockBase, acquiring: Hold, mine: Hold | list[Hold]) -> None:
    """Check an owner that holds ``mine`` asking for ``lock``; report recursion and inversions.

    Runs before the owner blocks, so a report comes out even if it then deadlocks.
    """
    holds = mine if isinstance(mine, list) else [mine]
    recursive = False
    for holding in holds:
        other = holding[LOCK]
        if other is lock:
            if not recursive:
                recursive = True
                report = _guarded(_recursive_report, lock, acquiring)
                if report is not None:
                    emit(lock, report)
            continue
        if not options.order_detection:
            continue
        try:
            earlier = history.observe(holding, acquiring)
        except Exception:
            logger.exception("lockwatch: lock-order bookkeeping failed")
            continue
        if earlier is not None:
            report = _guarded(_order_report, lock, acquiring, holding, earlier)
            if report is not None:
                emit(lock, report)


def register_nested(lock: LockBase, hold: Hold, mine: Hold | list[Hold]) -> None:
    """Check then record ``hold`` for an owner that already holds ``mine``."""
    check_nested(lock, hold, mine)
    add_hold(hold[OWNER], hold)


def scan_holds(accept: Callable[[Hold], bool]) -> float | None:
    """Report every overdue hold that ``accept`` selects.

    Returns the ``time.monotonic()`` at which the next selected hold becomes
    overdue, or ``None`` if no selected hold has a hold threshold.
    """
    now = time.monotonic()
    next_due: float | None = None
    current = all_holds()
    if reported_holds:
        live = {id(h) for h in current}
        for key in [k for k in reported_holds if k not in live]:
            reported_holds.pop(key, None)
    for hold in current:
        if not accept(hold):
            continue
        lock = hold[LOCK]
        limit = lock.hold_limit()
        if limit is None or not hold[T0]:  # off, or an untimed hold
            continue
        due = hold[T0] + limit
        if due <= now:
            if id(hold) not in reported_holds:
                report = overdue_report(lock, hold)
                if report is not None:
                    emit(lock, report)
        elif next_due is None or due < next_due:
            next_due = due
    return next_due


def describe_awaited(owner: object, future: object) -> str:
    """What a suspended task awaits: the two innermost awaiting functions and the object.

    For example ``Connection.deliver (targets/roomserver/connection.py:98) > wait_for
    (asyncio/tasks.py:476) awaits <Future pending cb=[Task.task_wakeup()]>``: where the
    code awaited, the library call it awaited in, and what that waits on.
    """
    frames = coro_chain(owner.get_coro()) if isinstance(owner, asyncio.Task) else []
    inner = [frame for frame in frames if not is_internal(frame.f_code)][-2:]
    where = " > ".join(
        f"{frame.f_code.co_qualname} ({short_file(frame.f_code.co_filename)}:"
        f"{line_of(frame.f_code, frame.f_lasti)})"
        for frame in inner
    )
    return (where + " awaits " if where else "") + short_repr(future)


def suspend_report(
    hold: Hold, suspended_s: float, future: object, kind: str | None = None
) -> Report | None:
    """Report ``hold``'s owner suspended on ``future`` for ``suspended_s`` while holding.

    ``kind``, what the suspension was classified as (e.g. ``"reply (a Future)"``,
    see :mod:`.awaits`), leads the report's ``awaited`` text.
    """
    lock = hold[LOCK]

    def build() -> Report:
        holds = lock.current_holds()
        if not any(h is hold for h in holds):
            holds.append(hold)
        holders = [party(h) for h in holds]
        subject = holders[next(i for i, h in enumerate(holds) if h is hold)]
        return Report(
            kind="held_across_await",
            lock=lock.name,
            duration_s=suspended_s,
            time=time.time(),
            subject=subject,
            holders=holders,
            awaited=(f"{kind}: " if kind else "") + describe_awaited(hold[OWNER], future),
        )

    return _guarded(build)
