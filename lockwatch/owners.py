"""Names and stacks of lock owners: asyncio tasks and threads.

Everything here runs only when a report is built, never on a lock's fast path.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from types import FrameType

from lockwatch.frames import coro_chain, walk_back
from lockwatch.holds import Owner

__all__ = ["describe", "frames_now", "frames_at_acquire", "short_repr"]

MAX_REPR = 160
"""Longest description of an awaited object, in characters."""


def describe(owner: Owner) -> tuple[str, str]:
    """Return ``(name, ident)`` for ``owner``."""
    if isinstance(owner, int):
        thread = _thread_by_ident(owner)
        name = thread.name if thread is not None else f"Thread-{owner}"
        return name, f"thread {owner}"
    if owner is None:
        return "no-task", "task none"
    return owner.get_name(), f"task {id(owner):#x}"


def _thread_by_ident(ident: int) -> threading.Thread | None:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread
    return None


def _task_root(task: asyncio.Task[object]) -> FrameType | None:
    coro = task.get_coro()
    return getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)


def frames_now(owner: Owner) -> list[FrameType]:
    """What ``owner`` is doing now, outermost frame first (best effort)."""
    if isinstance(owner, int):
        if owner == threading.get_ident():
            return walk_back(sys._getframe(1))
        return walk_back(sys._current_frames().get(owner))
    if owner is None:
        return []
    if owner.done():
        return []
    if _is_running(owner):
        return walk_back(sys._getframe(1), _task_root(owner))
    return coro_chain(owner.get_coro())


def _is_running(task: asyncio.Task[object]) -> bool:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return task.get_loop() is loop and asyncio.current_task(loop) is task


def frames_at_acquire(
    owner: Owner, frame: FrameType, now: list[FrameType] | None = None
) -> list[FrameType]:
    """Frames from the outermost down to ``frame``, where ``owner`` asked for a lock.

    While ``frame`` is still running, its callers are still at their call sites,
    so the prefix of the current stack is exact. Otherwise fall back to what
    ``frame.f_back`` still links to, which may be only ``frame`` itself.
    """
    if now is None:
        now = frames_now(owner)
    for i, candidate in enumerate(now):
        if candidate is frame:
            return now[: i + 1]
    stop = None
    if owner is not None and not isinstance(owner, int):
        stop = _task_root(owner)
    return walk_back(frame, stop)


def short_repr(value: object) -> str:
    """``repr(value)`` on one line, at most :data:`MAX_REPR` characters, never raising."""
    try:
        text = " ".join(repr(value).split())
    except Exception:
        text = f"<{type(value).__name__} object>"
    if len(text) > MAX_REPR:
        text = text[: MAX_REPR - 4] + " ...>"
    return text
