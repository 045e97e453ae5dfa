"""Change lockwatch's global options, and reset its state (for tests).

:func:`configure` and :func:`reset` sit above the modules whose state they
touch (the options, the lock-order history, the hold registry's reported holds,
the held-across-await samplers), so that none of those needs to know about
them. The package exports both.
"""

from __future__ import annotations

from lockwatch import holds, order, suspend
from lockwatch.options import normalize_threshold, options
from lockwatch.sinks import Sink

__all__ = ["configure", "reset"]


def configure(
    *,
    enabled: bool | None = None,
    wait_threshold: float | None = None,
    hold_threshold: float | None = None,
    suspend_threshold: float | None = None,
    sinks: list[Sink] | None = None,
    order_detection: bool | None = None,
    max_order_pairs: int | None = None,
) -> None:
    """Change global options. An argument left at ``None`` keeps its current value.

    Args:
        enabled: ``False`` makes every monitored lock a plain lock: no
            bookkeeping and no reports. Locks held across the switch stay correct.
        wait_threshold: report a waiter that has waited this long while the lock
            is held (default 30 s). ``0`` or a negative value turns it off.
        hold_threshold: report a holder that has held a lock this long (default
            off). ``0`` or a negative value turns it off again.
        suspend_threshold: turn held-across-await reports on (default off;
            ``0`` or a negative value turns them off again): an asyncio task
            that holds a monitored lock and suspends on network I/O or a reply
            (a socket drain, an ack future) is reported however short the
            wait; on a timer (a sleep), once it has lasted this long; on a lock
            or a bare yield, never (see :mod:`lockwatch.awaits` and
            :mod:`lockwatch.suspend`). Called inside a running event loop, it starts that
            loop's sampler at once; other loops start theirs when a monitored
            lock is first used in them.
        sinks: where reports go (default ``[LoggingSink()]``). Replaces the list.
        order_detection: detect lock-order inversions (default ``True``).
        max_order_pairs: bound on remembered lock pairs (default 10 000); the
            oldest pairs are forgotten first.

    Locks created with their own threshold or sinks keep them.
    """
    if enabled is not None:
        options.enabled = bool(enabled)
    if wait_threshold is not None:
        options.wait_threshold = normalize_threshold(wait_threshold)
    if hold_threshold is not None:
        options.hold_threshold = normalize_threshold(hold_threshold)
    if suspend_threshold is not None:
        options.suspend_threshold = normalize_threshold(suspend_threshold)
        if options.suspend_threshold is not None:
            suspend.rebind_unwatched()
            suspend.arm_running_loop()
    if sinks is not None:
        options.sinks = list(sinks)
    if order_detection is not None:
        options.order_detection = bool(order_detection)
    if max_order_pairs is not None:
        if max_order_pairs < 1:
            raise ValueError("max_order_pairs must be at least 1")
        options.max_order_pairs = int(max_order_pairs)
        order.history.trim(options.max_order_pairs)


def reset() -> None:
    """Restore default options and forget the lock-order history (for tests)."""
    options.set_defaults()
    suspend.forget_all()
    order.history.clear()
    holds.reported_holds.clear()
