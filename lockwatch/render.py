"""Render a :class:`~lockwatch.Report` as go-deadlock-style text.

The layout follows go-deadlock's output so that one parser
(:func:`~lockwatch.parse_reports`) reads reports from Go services and
from lockwatch. Each section is a header line, its lines, then a blank line. A
party is written as::

    task Task-38 lock room:lobby [read] <task 0x7f3a1c2b4d60>
    roomserver.py:79 in Room.broadcast <<<<<
      roomserver.py:201 in handler { await room.broadcast(msg) }
      roomserver.py:79 in Room.broadcast { async with self.members.read(): }

The first line is go-deadlock's ``goroutine 38 lock 0xc000067810`` plus the mode
and identity; the ``<<<<<`` line is where the lock was asked for; the indented
lines are the acquire stack, innermost last (go-deadlock lists it innermost
first, unindented). Wait and hold durations use Go's duration format.
"""

from __future__ import annotations

from lockwatch.gotime import format_duration
from lockwatch.report import Party, Report

__all__ = ["render_report", "keyword", "HEADER", "MARK"]

HEADER = "POTENTIAL DEADLOCK:"
MARK = "<<<<<"
_KEYWORDS = ("task", "thread", "goroutine")


def keyword(party: Party) -> str:
    """``"task"``, ``"thread"`` or ``"goroutine"``, from the party's ident."""
    word = party.ident.split(" ", 1)[0]
    return word if word in _KEYWORDS else "task"


def _clean(text: str) -> str:
    return " ".join(text.splitlines())


def _who(party: Party) -> str:
    return f"{keyword(party)} {_clean(party.name)}"


def _identity(party: Party, lock: str | None) -> str:
    return f"{_who(party)} lock {_clean(lock or '?')} [{party.mode}] <{_clean(party.ident)}>"


def _party_lines(party: Party, lock: str | None) -> list[str]:
    lines = [_identity(party, lock), f"{_clean(party.acquire_site)} {MARK}"]
    lines.extend("  " + _clean(line) for line in party.acquire_stack)
    return lines


def _same(a: Party, b: Party) -> bool:
    return a.ident == b.ident and a.acquire_site == b.acquire_site and a.mode == b.mode


class _Text:
    def __init__(self, first: str) -> None:
        self.lines = [first]

    def section(self, header: str, body: list[str]) -> None:
        self.lines.append(header)
        self.lines.extend(body)
        self.lines.append("")

    def now(self, party: Party) -> None:
        body = ["  " + _clean(line) for line in party.current_stack]
        self.section(f"Here is what {_who(party)} doing now", body)

    def result(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def render_report(report: Report) -> str:
    """Return the text form of ``report``, ending with a newline."""
    kind = report.kind
    if kind == "wait":
        return _render_wait(report)
    if kind == "hold":
        return _render_hold(report)
    if kind == "recursive":
        return _render_recursive(report)
    if kind == "held_across_await":
        return _render_suspended(report)
    return _render_order(report)


def _render_wait(report: Report) -> str:
    text = _Text(HEADER)
    for holder in report.holders:
        text.section("Previous place where the lock was grabbed", _party_lines(holder, report.lock))
    text.section(
        f"Have been trying to lock it again for more than {format_duration(report.duration_s)}",
        _party_lines(report.subject, report.lock),
    )
    for holder in report.holders:
        text.now(holder)
    return text.result()


def _render_hold(report: Report) -> str:
    text = _held_too_long(report, "Long hold:", "Have been holding the lock")
    text.now(report.subject)
    for holder in _other_holders(report):
        text.section("Previous place where the lock was grabbed", _party_lines(holder, report.lock))
        text.now(holder)
    return text.result()


def _render_suspended(report: Report) -> str:
    text = _held_too_long(
        report, "Held across await:", "Have been holding the lock while suspended"
    )
    if report.awaited:
        text.section("Awaiting", ["  " + _clean(report.awaited)])
    text.now(report.subject)
    for holder in _other_holders(report):
        text.section("Previous place where the lock was grabbed", _party_lines(holder, report.lock))
    return text.result()


def _held_too_long(report: Report, title: str, what: str) -> _Text:
    """The text of a report on its subject's hold: the title, then the subject's hold."""
    text = _Text(f"{HEADER} {title}")
    text.section(
        f"{what} for more than {format_duration(report.duration_s)}",
        _party_lines(report.subject, report.lock),
    )
    return text


def _other_holders(report: Report) -> list[Party]:
    """The holders a report lists besides its subject."""
    return [holder for holder in report.holders if not _same(holder, report.subject)]


def _render_recursive(report: Report) -> str:
    text = _Text(f"{HEADER} Recursive locking:")
    subject = report.subject
    lines = _party_lines(subject, report.lock)
    text.section("current " + lines[0], lines[1:])
    for holder in report.holders:
        header = "Previous place where the lock was grabbed"
        if holder.ident == subject.ident:
            header += f" (same {keyword(subject)})"
        text.section(header, _party_lines(holder, report.lock))
    for holder in report.holders:
        if holder.ident != subject.ident:
            text.now(holder)
    return text.result()


def _render_order(report: Report) -> str:
    subject = report.subject
    earlier = report.earlier
    where = keyword(earlier[0]) if earlier else keyword(subject)
    text = _Text(f"{HEADER} Inconsistent locking. saw this ordering in one {where}:")
    if len(earlier) >= 1:
        text.section("happened before", _party_lines(earlier[0], report.lock))
    if len(earlier) >= 2:
        text.section("happened after", _party_lines(earlier[1], report.other_lock))
    others = list(report.other_holders)
    own = next((p for p in others if p.ident == subject.ident), others[0] if others else None)
    if own is not None:
        others.remove(own)
        text.section(
            f"in another {keyword(subject)}: happened before",
            _party_lines(own, report.other_lock),
        )
    text.section("happened after", _party_lines(subject, report.lock))
    for holder in report.holders:
        text.section("Previous place where the lock was grabbed", _party_lines(holder, report.lock))
    for holder in others:
        text.section(
            "Previous place where the lock was grabbed", _party_lines(holder, report.other_lock)
        )
    return text.result()
