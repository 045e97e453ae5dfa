"""What a suspended task awaits: network I/O, a reply, a timer, a lock, or nothing.

The held-across-await detector (:mod:`.suspend`) asks this module, for a task
that holds a monitored asyncio lock and has just suspended, what the suspension
waits on. The answer is one of :data:`AWAIT_KINDS`:

``network``
    a call into code that does network I/O: asyncio's streams
    (``StreamWriter.drain``, ``StreamReader.read``...), the loop's socket
    methods (``sock_recv``, ``sock_sendall``, ``create_connection``...), or a
    package in :data:`NETWORK_PACKAGES` (websockets' ``send`` waiting on drain,
    python-socketio's ``call`` waiting for the client's ack...).
``reply``
    a future, event, condition or queue that another task or a protocol
    callback will complete: the shape of an ack or reply future set by a
    reader task, and of anything else awaited that is not a timer or a lock.
    lockwatch cannot tell who will complete a plain future, so it presumes the
    worst: something outside this task, such as the network.
``timer``
    ``asyncio.sleep`` with a delay: the code chose how long to wait.
``lock``
    acquiring a lock (asyncio's ``Lock``, ``Semaphore``, a lockwatch lock):
    nesting locks is judged by wait, order and recursion reports instead.
``yield``
    nothing at all: ``await asyncio.sleep(0)`` gives other tasks a turn.

``network`` and ``reply`` are reported however short the suspension; ``timer``
only past the suspend threshold; ``lock`` and ``yield`` never.

How it decides: it walks the task's await chain (its coroutine, then what that
awaits, ``cr_await``, down to the innermost frame), from the frame that took
the lock inward. The outermost frame there that belongs to known code decides,
so that a library's own internal waits (a websockets send that waits on an
internal lock or yields) count as the library call they are part of, while the
library frames that run the handler (outside the frame that took the lock)
decide nothing. ``asyncio.wait_for`` is looked through to what it waits
for. With no known frame, the awaited object decides: a task is classified by
what it awaits, a ``gather`` by the most I/O-like of its children, and any other
future is a ``reply``. A task created in the step that awaits it has not run yet
when the follower looks: that answer is not ``settled``, and the follower asks
again after the loop's next turns (a task that finished without waiting counts
as a ``yield``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any, Final, Literal

from lockwatch.frames import coro_chain, is_internal

__all__ = [
    "AwaitKind",
    "AWAIT_KINDS",
    "REPORTED_AT_ONCE",
    "NEVER_REPORTED",
    "NETWORK_PACKAGES",
    "Awaited",
    "classify",
]

AwaitKind = Literal["network", "reply", "timer", "lock", "yield"]
AWAIT_KINDS: tuple[AwaitKind, ...] = ("network", "reply", "timer", "lock", "yield")
"""Every kind, most I/O-like first."""

REPORTED_AT_ONCE: Final = frozenset({"network", "reply"})
"""Kinds reported however short the suspension."""

NEVER_REPORTED: Final = frozenset({"lock", "yield"})
"""Kinds never reported as held across await."""

NETWORK_PACKAGES: Final = frozenset({
    "websockets", "socketio", "engineio", "aiohttp", "httpx", "httpcore", "asyncpg",
    "aiomysql", "aiopg", "redis", "aiokafka", "grpc",
})
"""Top-level packages whose coroutines do network I/O."""

_NETWORK_MODULES: Final = frozenset({
    "asyncio.streams", "asyncio.selector_events", "asyncio.proactor_events",
    "asyncio.sslproto", "asyncio.base_events",
})
"""asyncio's own modules whose coroutines wait on sockets."""

_KINDS: Final[dict[str, dict[AwaitKind, tuple[str, ...]]]] = {
    "asyncio.tasks": {"timer": ("sleep",)},
    "asyncio.locks": {
        "lock": ("Lock.acquire", "Semaphore.acquire", "BoundedSemaphore.acquire",
                 "Condition.acquire"),
        "reply": ("Event.wait", "Condition.wait", "Condition.wait_for", "Barrier.wait"),
    },
    "asyncio.queues": {"reply": ("Queue.get", "Queue.put", "Queue.join")},
}
"""asyncio's own coroutines of known kind: module, kind, qualified names."""

_BY_NAME: Final[dict[tuple[str, str], AwaitKind]] = {
    (module, name): kind
    for module, kinds in _KINDS.items()
    for kind, names in kinds.items()
    for name in names
}

_WAIT_FOR = "wait_for"
_MAX_DEPTH = 4  # tasks awaiting tasks: look this deep, no deeper
_RANK = {kind: rank for rank, kind in enumerate(AWAIT_KINDS)}

# Per code object: its kind, "wait_for", or None for code that does not decide.
_code_kinds: dict[CodeType, str | None] = {}


@dataclass(frozen=True)
class Awaited:
    """The answer for one suspension: its kind and what decided it.

    Attributes:
        kind: one of :data:`AWAIT_KINDS`.
        what: the call or object that decided, e.g. ``"websockets Connection.send"``,
            ``"Event.wait"``, ``"a Future"``.
        settled: ``False`` while an awaited task has not taken its first step (it
            was created in the step that awaits it), so what it waits on is not
            known yet; ``kind`` is then the presumption, ``reply``. Ask again
            after the loop's next turn.
    """

    kind: AwaitKind
    what: str
    settled: bool = True

    @property
    def reported_at_once(self) -> bool:
        """Whether a lock held across this is reported however short the suspension."""
        return self.kind in REPORTED_AT_ONCE

    @property
    def never_reported(self) -> bool:
        """Whether a lock held across this is never reported."""
        return self.kind in NEVER_REPORTED

    def label(self) -> str:
        """``"reply (a Future)"``: the kind, then what decided it."""
        return f"{self.kind} ({self.what})"


YIELD = Awaited("yield", "a bare yield")


def _module_of(frame: FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else ""


def _code_kind(frame: FrameType) -> str | None:
    code = frame.f_code
    try:
        return _code_kinds[code]
    except KeyError:
        pass
    module = _module_of(frame)
    kind: str | None
    if is_internal(code):
        kind = "lock"  # lockwatch's own frames in a chain are always a lock's waiter
    elif code.co_name == _WAIT_FOR and module == "asyncio.tasks":
        kind = _WAIT_FOR
    elif (module, code.co_qualname) in _BY_NAME:
        kind = _BY_NAME[(module, code.co_qualname)]
    elif module in _NETWORK_MODULES or module.partition(".")[0] in NETWORK_PACKAGES:
        kind = "network"
    else:
        kind = None
    _code_kinds[code] = kind
    return kind


def _describe(frame: FrameType) -> str:
    module = _module_of(frame)
    package = module.partition(".")[0]
    name = frame.f_code.co_qualname
    return name if package in ("asyncio", "") else f"{package} {name}"


def _of_future(future: Any, depth: int) -> Awaited:
    """Classify an awaited object that no frame of the chain decided."""
    if future is None:
        return YIELD
    if isinstance(future, asyncio.Task):
        if depth < _MAX_DEPTH:
            return _of_task(future, depth + 1)
        return Awaited("reply", "a Task")
    children = getattr(future, "_children", None)  # asyncio.gather's future
    if isinstance(children, list) and depth < _MAX_DEPTH:
        kinds = [_of_future(child, depth + 1) for child in children if not child.done()]
        if kinds:
            first = min(kinds, key=lambda awaited: _RANK[awaited.kind])
            if first.kind == "network" and first.settled:
                return first  # nothing an unsettled child turns out to be can outrank it
            if all(awaited.settled for awaited in kinds):
                return first
            return Awaited(first.kind, first.what, settled=False)
        return YIELD  # every child finished: nothing was waited on
    return Awaited("reply", f"a {type(future).__name__}")


def _of_chain(frames: list[FrameType], future: Any, depth: int) -> Awaited:
    for frame in frames:
        kind = _code_kind(frame)
        if kind is None:
            continue
        if kind == _WAIT_FOR:
            inner = frame.f_locals.get("fut")
            if isinstance(inner, asyncio.Future) and inner is not future:
                return _of_future(inner, depth)
            continue
        return Awaited(kind, _describe(frame))  # type: ignore[arg-type]
    return _of_future(future, depth)


def _of_task(task: asyncio.Task[Any], depth: int) -> Awaited:
    """What an awaited ``task`` waits on."""
    if task.done():
        return YIELD  # it finished without making its awaiter wait on anything else
    awaited = _of_chain(coro_chain(task.get_coro()), getattr(task, "_fut_waiter", None), depth)
    # Ready to run (not started yet, or between steps): what it will wait on is not known.
    return Awaited("reply", "a Task", settled=False) if awaited is YIELD else awaited


def classify(task: asyncio.Task[Any], future: Any, holding: Iterable[FrameType] = ()) -> Awaited:
    """What ``task``, suspended on ``future`` (its ``_fut_waiter``), is waiting for.

    ``future`` is ``None`` for a bare yield. It may already be done: what counts
    is what the task suspended on. ``holding`` are the frames that took the
    task's locks: only what they await is looked at (a server library's frames
    that run the handler, outside them, decide nothing). When none of them is
    in the chain any more, the innermost known frame decides instead.
    """
    if future is None:
        return YIELD
    frames = coro_chain(task.get_coro())
    mine = set(holding)
    start = -1
    for index, frame in enumerate(frames):
        if frame in mine:
            start = index
    if start < 0:
        frames.reverse()
    return _of_chain(frames[start + 1:], future, 0)
