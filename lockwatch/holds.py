"""Who holds which monitored lock: the hold record and the global registry.

A hold is a plain tuple (see :data:`Hold`), built as a literal on every acquire
and read only through the index names :data:`LOCK`, :data:`OWNER`, :data:`FRAME`,
:data:`LASTI`, :data:`T0` and :data:`MODE`, never by number: the cheapest kind of
named access. Measured with ``timeit`` on this project's VM (Python 3.11, 2 cores,
busy, best of 7, two runs): building a hold as a tuple literal took 98-157 ns, as
a ``typing.NamedTuple`` made with ``tuple.__new__(Hold, (...))`` 468-562 ns and
with its constructor 487-853 ns; the extra 370 ns or more per acquire is over twice
a whole ``threading.Lock`` cycle. Reading two fields took 23-37 ns as ``hold[4],
hold[1]``, 26-46 ns as ``hold[T0], hold[OWNER]`` (one specialised global load
each) and 47-71 ns as NamedTuple attributes.

The registry :data:`held` maps each owner (an :class:`asyncio.Task`, a thread
id, or ``None`` for code running outside any task) to its hold, or to a list of
holds when it holds several locks. Only an owner holding something has an entry, so checking
"does this owner already hold a lock?" is one dict lookup.

The registry is a plain dict and is never guarded by a lock: each entry is
changed by its own owner, single dict operations are atomic in CPython, and
readers copy before iterating.
"""

from __future__ import annotations

import asyncio
import itertools
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Union

from lockwatch.options import normalize_threshold, options
from lockwatch.report import Mode

if TYPE_CHECKING:
    from lockwatch.sinks import Sink

__all__ = [
    "Owner",
    "Hold",
    "LOCK",
    "OWNER",
    "FRAME",
    "LASTI",
    "T0",
    "MODE",
    "held",
    "reported_holds",
    "LockBase",
    "add_hold",
    "remove_hold",
    "all_holds",
    "holds_on",
    "take_hold",
    "retimed",
]

Owner = Union["asyncio.Task[Any]", int, None]
"""A task (asyncio flavour), a thread id (threading flavour), or ``None``."""

Hold = tuple["LockBase", Owner, FrameType, int, float, Mode]
"""``(lock, owner, frame, lasti, t0, mode)``.

``frame`` and ``lasti`` say where the owner asked for the lock, ``t0`` is
``time.monotonic()`` when it got it (or started waiting, for a waiter). A hold
taken while no hold threshold applies skips the clock read and has ``t0 == 0.0``
("untimed"): hold detection ignores it.
"""

LOCK: Final = 0
OWNER: Final = 1
FRAME: Final = 2
LASTI: Final = 3
T0: Final = 4
MODE: Final = 5

held: dict[Owner, Hold | list[Hold]] = {}
"""Current holds of every owner that holds at least one monitored lock."""

reported_holds: dict[int, tuple[Hold, object]] = {}
"""Timed holds already reported as too long, by ``id(hold)``, so each is reported once.

Entries keep their hold alive, so an id cannot be reused while listed. Releases
remove their entry; the watchdog prunes any left behind by a race.
"""

_serials = itertools.count(1)


class LockBase:
    """What every monitored lock has: a name, thresholds, sinks, a serial number.

    Args:
        name: shown in reports. Several locks may share a name.
        wait_threshold: overrides the global wait threshold; ``0`` turns it off.
        hold_threshold: overrides the global hold threshold; ``0`` turns it off.
        suspend_threshold: overrides the global suspend threshold (asyncio
            locks only); ``0`` turns held-across-await reports off for this lock.
        allow_io: ``True`` for a lock held across I/O on purpose (a transaction,
            a connection's own write lock): never report it held across an await,
            short or long. The same as ``suspend_threshold=0``, said plainly.
        sinks: overrides the global sinks.
    """

    __slots__ = (
        "name",
        "_serial",
        "_wait_threshold",
        "_hold_threshold",
        "_suspend_threshold",
        "_sinks",
        "__weakref__",
    )

    def __init__(
        self,
        name: str,
        *,
        wait_threshold: float | None = None,
        hold_threshold: float | None = None,
        suspend_threshold: float | None = None,
        allow_io: bool = False,
        sinks: list[Sink] | None = None,
    ) -> None:
        self.name = str(name)
        self._serial = next(_serials)
        # None: follow the global option; 0.0: off for this lock.
        self._wait_threshold = (
            None if wait_threshold is None else normalize_threshold(wait_threshold) or 0.0
        )
        self._hold_threshold = (
            None if hold_threshold is None else normalize_threshold(hold_threshold) or 0.0
        )
        self._suspend_threshold = (
            0.0 if allow_io
            else None if suspend_threshold is None
            else normalize_threshold(suspend_threshold) or 0.0
        )
        self._sinks = None if sinks is None else list(sinks)
        self._init_state()

    def _init_state(self) -> None:
        """Set up the state of the lock itself (its own slots); ``__init__`` calls it last."""

    def wait_limit(self) -> float | None:
        """The wait threshold in effect for this lock, or ``None`` if off."""
        limit = self._wait_threshold
        if limit is None:
            return options.wait_threshold
        return limit or None

    def hold_limit(self) -> float | None:
        """The hold threshold in effect for this lock, or ``None`` if off."""
        limit = self._hold_threshold
        if limit is None:
            return options.hold_threshold
        return limit or None

    def suspend_limit(self) -> float | None:
        """The suspend threshold in effect for this lock, or ``None`` if off."""
        limit = self._suspend_threshold
        if limit is None:
            return options.suspend_threshold
        return limit or None

    def report_sinks(self) -> list[Sink]:
        """The sinks reports about this lock go to."""
        return options.sinks if self._sinks is None else self._sinks

    def current_holds(self) -> list[Hold]:
        """Every recorded hold of this lock."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} {self.name!r}>"


def add_hold(owner: Owner, hold: Hold) -> None:
    """Record that ``owner`` holds ``hold``."""
    mine = held.get(owner)
    if mine is None:
        held[owner] = hold
    elif isinstance(mine, list):
        mine.append(hold)
    else:
        held[owner] = [mine, hold]


def remove_hold(hold: Hold) -> None:
    """Forget ``hold``; quietly do nothing if it is not recorded."""
    owner = hold[OWNER]
    mine = held.get(owner)
    if mine is hold:
        held.pop(owner, None)
    elif isinstance(mine, list):
        for i in range(len(mine) - 1, -1, -1):
            if mine[i] is hold:
                del mine[i]
                break
        if len(mine) == 1:
            held[owner] = mine[0]
        elif not mine:
            held.pop(owner, None)


def all_holds() -> list[Hold]:
    """Every recorded hold, in no particular order."""
    result: list[Hold] = []
    for mine in list(held.values()):
        if isinstance(mine, list):
            result.extend(mine)
        else:
            result.append(mine)
    return result


def holds_on(lock: LockBase) -> list[Hold]:
    """Every recorded hold of ``lock`` (a scan of the registry: for reports only)."""
    return [hold for hold in all_holds() if hold[LOCK] is lock]


def take_hold(lock: LockBase, owner: Owner, mode: Mode, remaining: int) -> Hold | None:
    """Forget and return the hold a release of ``lock`` in ``mode`` by ``owner`` ends.

    That is the latest such hold of ``owner``. If ``owner`` has none (another
    task or thread releases), it is any such hold, provided more of them are
    recorded than the ``remaining`` holds after this release (holds taken while
    lockwatch was disabled are not recorded).
    """
    mine = held.get(owner)
    if mine is not None:
        if not isinstance(mine, list):
            if mine[LOCK] is lock and mine[MODE] == mode:
                remove_hold(mine)
                return mine
        else:
            for hold in reversed(mine):
                if hold[LOCK] is lock and hold[MODE] == mode:
                    remove_hold(hold)
                    return hold
    candidates = [hold for hold in all_holds() if hold[LOCK] is lock and hold[MODE] == mode]
    if len(candidates) > remaining:
        remove_hold(candidates[0])
        return candidates[0]
    return None


def retimed(hold: Hold, t0: float) -> Hold:
    """A copy of ``hold`` that started at ``t0`` (``0.0``: untimed)."""
    return (hold[LOCK], hold[OWNER], hold[FRAME], hold[LASTI], t0, hold[MODE])
