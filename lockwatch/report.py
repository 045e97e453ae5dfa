"""The :class:`Report` a monitored lock produces, and the :class:`Party` it names.

Reports hold only strings and numbers: stacks are formatted when a report fires,
so a report never keeps frames (or their locals) alive. :meth:`Report.to_dict`
and :meth:`Report.from_dict` give a JSON-safe form; :meth:`Report.render` gives
go-deadlock-style text that :func:`~lockwatch.parse_reports` reads back.

The text format lives in :mod:`.render`, which builds on this module. So that
this module need not import it back, :meth:`Report.render` calls the renderer
installed with :func:`set_renderer`; importing :mod:`lockwatch` (which
any import of one of its modules does first) installs
:func:`~lockwatch.render.render_report`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

__all__ = ["Kind", "Mode", "Party", "Report", "KINDS", "MODES", "set_renderer"]

Kind = Literal["wait", "hold", "order", "recursive", "held_across_await"]
Mode = Literal["read", "write", "exclusive"]

KINDS: tuple[Kind, ...] = get_args(Kind)
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass
class Party:
    """A task or thread involved in a report.

    Attributes:
        name: task name or thread name (for go-deadlock text: the goroutine id).
        ident: stable identity while alive, e.g. ``"task 0x7f3a1c2b4d60"``,
            ``"thread 140213"`` or ``"goroutine 38"``.
        mode: how it holds or wants the lock.
        acquire_site: one line, ``"file.py:79 in Room.broadcast"``: the innermost
            frame outside lockwatch where it asked for the lock.
        acquire_stack: frames where it asked for (or got) the lock, innermost last.
        current_stack: what it is doing at report time, innermost last. Empty
            when unknown (e.g. for an ordering seen earlier).
    """

    name: str
    ident: str
    mode: Mode
    acquire_site: str
    acquire_stack: list[str] = field(default_factory=list)
    current_stack: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Party:
        """Build a party from :meth:`to_dict` output; unknown keys are ignored."""
        mode = d.get("mode", "exclusive")
        return cls(
            name=str(d.get("name", "")),
            ident=str(d.get("ident", "")),
            mode=cast(Mode, mode if mode in MODES else "exclusive"),
            acquire_site=str(d.get("acquire_site", "")),
            acquire_stack=[str(line) for line in d.get("acquire_stack", [])],
            current_stack=[str(line) for line in d.get("current_stack", [])],
        )


@dataclass
class Report:
    """One potential deadlock.

    Attributes:
        kind: ``"wait"`` (a waiter waited too long), ``"hold"`` (a holder held
            too long), ``"order"`` (lock-order inversion) or ``"recursive"``
            (a task or thread re-acquired a non-reentrant lock it holds) or
            ``"held_across_await"`` (a task holding the lock stayed suspended on
            something not ready).
        lock: name of the lock.
        duration_s: wait or hold duration when the report fired, or for
            "held_across_await" how long the holder had been seen suspended (a
            lower bound); 0 for order and recursive reports.
        time: wall-clock ``time.time()`` when the report fired.
        subject: the waiter (wait), the long holder (hold), the suspended holder
            (held_across_await: ``current_stack`` is its stack at the await
            point), or the acquirer (order, recursive).
        holders: every current holder of ``lock``, all concurrent readers
            included. For "hold" the subject is one of them.
        other_lock: for "order", the lock the subject already holds.
        earlier: for "order", where the opposite ordering was seen: the party
            that took ``lock``, then the party that took ``other_lock`` while
            holding it.
        other_holders: for "order", the current holders of ``other_lock`` (the
            subject among them). An extension over go-deadlock's fields.
        awaited: for "held_across_await", what the holder awaits, where that
            can be told: the innermost awaiting function and the awaited object.
    """

    kind: Kind
    lock: str
    duration_s: float
    time: float
    subject: Party
    holders: list[Party] = field(default_factory=list)
    other_lock: str | None = None
    earlier: list[Party] = field(default_factory=list)
    other_holders: list[Party] = field(default_factory=list)
    awaited: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (one JSONL line per report in :class:`JsonlSink`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """Build a report from :meth:`to_dict` output.

        Raises:
            ValueError: if ``kind`` is not a known kind or ``subject`` is missing.
        """
        kind = d.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown report kind: {kind!r}")
        subject = d.get("subject")
        if not isinstance(subject, dict):
            raise ValueError("report has no subject")
        other_lock = d.get("other_lock")
        return cls(
            kind=cast(Kind, kind),
            lock=str(d.get("lock", "")),
            duration_s=float(d.get("duration_s", 0.0)),
            time=float(d.get("time", 0.0)),
            subject=Party.from_dict(subject),
            holders=[Party.from_dict(p) for p in d.get("holders", [])],
            other_lock=None if other_lock is None else str(other_lock),
            earlier=[Party.from_dict(p) for p in d.get("earlier", [])],
            other_holders=[Party.from_dict(p) for p in d.get("other_holders", [])],
            awaited=None if d.get("awaited") is None else str(d.get("awaited")),
        )

    def render(self) -> str:
        """Return go-deadlock-style text; see :mod:`lockwatch.render`."""
        return _renderer(self)


def _no_renderer(report: Report) -> str:
    raise RuntimeError("no report renderer installed: import lockwatch")


_renderer: Callable[[Report], str] = _no_renderer


def set_renderer(renderer: Callable[[Report], str]) -> None:
    """Make :meth:`Report.render` return ``renderer(report)``."""
    global _renderer
    _renderer = renderer
