"""Capture stacks cheaply; format them only when a report fires.

A monitored lock keeps the frame that asked for it and that frame's ``f_lasti``
(an O(1) read, unlike ``f_lineno``). A :data:`Snap` is the same pair with the
code object instead of the frame, so it keeps no locals alive; it is what the
lock-order history stores. Line numbers and source text are looked up only in
:func:`format_snaps`.

Frames inside this package, and thread start-up frames, are left out of every
formatted stack.
"""

from __future__ import annotations

import linecache
import os
import threading
from collections.abc import Iterable
from types import CodeType, FrameType
from typing import Any

__all__ = [
    "MAX_FRAMES",
    "Snap",
    "line_of",
    "is_internal",
    "walk_back",
    "coro_chain",
    "snap",
    "site",
    "format_snaps",
    "short_file",
]

MAX_FRAMES = 24
"""Keep at most this many innermost frames per formatted stack."""

Snap = tuple[CodeType, int]
"""A frame reduced to its code object and last instruction offset."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_internal_cache: dict[str, bool] = {}

# Thread start-up frames carry no information (like go-deadlock dropping goexit).
_NOISE: frozenset[CodeType] = frozenset(
    code
    for code in (
        getattr(getattr(threading.Thread, name, None), "__code__", None)
        for name in ("_bootstrap", "_bootstrap_inner", "run")
    )
    if code is not None
)


def line_of(code: CodeType, lasti: int) -> int:
    """Return the source line of the instruction at byte offset ``lasti``."""
    if lasti >= 0:
        for start, end, line in code.co_lines():
            if start <= lasti < end:
                return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


def is_internal(code: CodeType) -> bool:
    """Tell whether ``code`` belongs to this package."""
    filename = code.co_filename
    internal = _internal_cache.get(filename)
    if internal is None:
        internal = os.path.abspath(filename).startswith(_PACKAGE_DIR)
        _internal_cache[filename] = internal
    return internal


def walk_back(frame: FrameType | None, stop: FrameType | None = None) -> list[FrameType]:
    """Follow ``f_back`` from ``frame`` up to ``stop`` (included) or the top.

    Returns frames outermost first.
    """
    frames: list[FrameType] = []
    while frame is not None:
        frames.append(frame)
        if frame is stop:
            break
        frame = frame.f_back
    frames.reverse()
    return frames


def coro_chain(coro: Any) -> list[FrameType]:
    """Frames of a suspended coroutine and everything it awaits, outermost first.

    ``Task.get_stack()`` returns one frame for a suspended task; this follows
    ``cr_await`` (and the generator and async-generator equivalents) instead.
    """
    frames: list[FrameType] = []
    seen = 0
    while coro is not None and seen < 256:
        seen += 1
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            frames.append(frame)
            coro = getattr(coro, "cr_await", None)
            continue
        frame = getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
            coro = getattr(coro, "gi_yieldfrom", None)
            continue
        frame = getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
            coro = getattr(coro, "ag_await", None)
            continue
        break
    return frames


def snap(frames: Iterable[FrameType], last: tuple[FrameType, int] | None = None) -> list[Snap]:
    """Reduce ``frames`` (outermost first) to snaps, dropping lockwatch frames.

    If ``last`` is ``(frame, lasti)``, that frame is reported at ``lasti``
    instead of where it is now: a holder has moved on since it took the lock.
    """
    snaps: list[Snap] = []
    for frame in frames:
        code = frame.f_code
        if code in _NOISE or is_internal(code):
            continue
        if last is not None and frame is last[0]:
            snaps.append((code, last[1]))
        else:
            snaps.append((code, frame.f_lasti))
    return snaps[-MAX_FRAMES:]


def _short_path(filename: str) -> str:
    try:
        cwd = os.getcwd()
    except OSError:
        return filename
    if filename.startswith(cwd + os.sep):
        return filename[len(cwd) + 1 :]
    return filename


def short_file(filename: str) -> str:
    """``filename`` relative to the working directory, or its last two parts outside it.

    ``asyncio/tasks.py`` says enough for a library file; a full interpreter path does not.
    """
    short = _short_path(filename)
    if os.path.isabs(short):
        parts = short.split(os.sep)
        return os.sep.join(parts[-2:])
    return short


def site(code: CodeType, lasti: int) -> str:
    """One line such as ``"roomserver.py:79 in Room.broadcast"``."""
    return f"{_short_path(code.co_filename)}:{line_of(code, lasti)} in {code.co_qualname}"


def format_snaps(snaps: Iterable[Snap]) -> list[str]:
    """Format snaps as ``"file.py:79 in Room.broadcast { source line }"``."""
    lines = []
    for code, lasti in snaps:
        lineno = line_of(code, lasti)
        text = f"{_short_path(code.co_filename)}:{lineno} in {code.co_qualname}"
        source = linecache.getline(code.co_filename, lineno).strip()
        if source:
            text += " { " + source + " }"
        lines.append(text)
    return lines
