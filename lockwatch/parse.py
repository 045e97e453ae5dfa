"""Read reports back: lockwatch JSONL, lockwatch text, or go-deadlock's text output.

:func:`parse_reports` takes any mix of:

* JSON lines, one :meth:`Report.to_dict` per line (what :class:`JsonlSink` writes);
* text blocks starting with ``POTENTIAL DEADLOCK:``, as rendered by
  :meth:`Report.render` or printed by go-deadlock. The marker may follow a log
  prefix on its line. Anything outside such blocks is ignored.

For go-deadlock text: ``lock`` is the lock address (``"0xc000067810"``), or for
an order inversion (which prints no addresses) the receiver in the source
snippet, e.g. ``"r.mu"`` from ``{ r.mu.Lock() }``; parties are named after their
goroutine id (``name="38"``, ``ident="goroutine 38"``); the mode is guessed from
the snippet (``RLock`` is a read, ``Lock`` a write if the lock has readers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import cast

from lockwatch.gotime import DURATION_PATTERN, parse_duration
from lockwatch.render import HEADER, MARK
from lockwatch.report import KINDS, MODES, Kind, Mode, Party, Report

__all__ = ["parse_reports"]

_SECTIONS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("holder", r"Previous place where the lock was grabbed(?: \(same (?P<same>\w+)\))?\s*$"),
        ("waiter", rf"Have been trying to lock it again for more than (?P<dur>{DURATION_PATTERN})"),
        ("holding", rf"Have been holding the lock for more than (?P<dur>{DURATION_PATTERN})"),
        (
            "suspended",
            r"Have been holding the lock while suspended for more than "
            rf"(?P<dur>{DURATION_PATTERN})",
        ),
        ("awaiting", r"Awaiting\s*$"),
        ("now", r"Here is what (?P<who>.+) doing now\s*$"),
        ("before", r"happened before\s*$"),
        ("after", r"happen(?:e)?d after\s*$"),
        ("another", r"in another (?:goroutine|task|thread): happened before\s*$"),
        ("current", r"current (?P<rest>(?:goroutine|task|thread) .+ lock .+)$"),
        ("skip", r"Other \w+ holding locks:\s*$"),
        ("skip", r"All current goroutines:\s*$"),
    ]
]
_IDENTITY = re.compile(
    r"(?P<kw>goroutine|task|thread) (?P<name>.+?) lock (?P<lock>.+?)"
    r"(?: \[(?P<mode>read|write|exclusive)\])?(?: <(?P<ident>[^<>]*)>)?\s*$"
)
_SNIPPET = re.compile(r"\{ (?P<code>.*) \}\s*$")
_RECEIVER = re.compile(r"(?P<expr>[\w.()*\[\]]+?)\.(?:RLock|Lock|TryRLock|TryLock)\(\)")


@dataclass
class _Section:
    kind: str
    match: re.Match[str]
    lines: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    party: Party
    lock: str | None
    explicit_mode: bool  # the text said read/write/exclusive (lockwatch), not guessed
    snippet: str


def parse_reports(text: str) -> list[Report]:
    """Parse every report in ``text``, in order of appearance; see the module docstring."""
    reports: list[Report] = []
    block: list[str] | None = None

    def flush() -> None:
        if block:
            report = _parse_block(block)
            if report is not None:
                reports.append(report)

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            report = _from_json(stripped)
            if report is not None:
                flush()
                block = None
                reports.append(report)
                continue
        at = line.find(HEADER)
        if at >= 0:
            flush()
            block = [line[at:]]
        elif block is not None:
            block.append(line.rstrip())
    flush()
    return reports


def _from_json(line: str) -> Report | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") not in KINDS or "lock" not in data:
        return None
    try:
        return Report.from_dict(data)
    except (ValueError, TypeError, AttributeError):
        return None


def _split(lines: list[str]) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    for line in lines:
        for name, pattern in _SECTIONS:
            match = pattern.match(line)
            if match is not None:
                current = _Section(name, match)
                if name == "current":
                    current.lines.append(match.group("rest"))
                sections.append(current)
                break
        else:
            if current is None:
                continue
            if not line.strip():
                if current.lines:
                    current = None  # the section ended; ignore what follows
                continue
            current.lines.append(line)
    return sections


def _strip_mark(line: str) -> str:
    return line.replace(MARK, "").rstrip()


def _site(line: str) -> tuple[str, str]:
    """Split a stack line into its site and its ``{ code }`` snippet."""
    line = _strip_mark(line).strip()
    match = _SNIPPET.search(line)
    if match is None:
        return line, ""
    return line[: match.start()].rstrip(), match.group("code")


def _party(lines: list[str], kw: str = "goroutine") -> _Parsed:
    name, ident = "?", ""
    lock: str | None = None
    mode: str | None = None
    if lines:
        match = _IDENTITY.match(lines[0].strip())
        if match is not None:
            lines = lines[1:]
            kw, name, lock = match.group("kw"), match.group("name"), match.group("lock")
            mode = match.group("mode")
            ident = match.group("ident") or ""
    ident = ident or f"{kw} {name}"
    at = next((i for i, line in enumerate(lines) if MARK in line), 0 if lines else None)
    site, snippet, stack = "", "", []
    if at is not None:
        site, snippet = _site(lines[at])
        rest = lines[at + 1 :]
        if rest and all(line[:1].isspace() for line in rest):
            stack = [line.strip() for line in rest]  # lockwatch: innermost last
        else:
            stack = [_strip_mark(line).strip() for line in reversed(lines[at:])]  # go-deadlock
    explicit = mode in MODES
    if not explicit:
        mode = "read" if ".RLock()" in snippet or ".TryRLock()" in snippet else "exclusive"
    party = Party(
        name=name,
        ident=ident,
        mode=cast(Mode, mode),
        acquire_site=site,
        acquire_stack=stack,
    )
    return _Parsed(party, lock, explicit, snippet)


def _receiver(parsed: _Parsed | None) -> str | None:
    if parsed is None:
        return None
    if parsed.lock is not None:
        return parsed.lock
    match = _RECEIVER.search(parsed.snippet)
    if match is not None:
        return match.group("expr")
    return parsed.party.acquire_site or None


def _parse_block(lines: list[str]) -> Report | None:
    rest = lines[0][len(HEADER) :].strip()
    kind: Kind
    if not rest:
        kind = "wait"
    elif rest.startswith("Inconsistent locking"):
        kind = "order"
    elif rest.startswith("Recursive locking"):
        kind = "recursive"
    elif rest.startswith("Long hold"):
        kind = "hold"
    elif rest.startswith("Held across await"):
        kind = "held_across_await"
    else:
        return None
    sections = _split(lines[1:])
    match = re.search(r"in one (goroutine|task|thread)", rest)
    kw = match.group(1) if match else "goroutine"
    if kind == "order":
        return _order(sections, kw)
    return _single_lock(kind, sections)


def _single_lock(kind: Kind, sections: list[_Section]) -> Report | None:
    subject: _Parsed | None = None
    holders: list[_Parsed] = []
    nows: list[_Section] = []
    duration = 0.0
    awaited: str | None = None
    for section in sections:
        if section.kind == "awaiting":
            awaited = " ".join(line.strip() for line in section.lines) or None
        elif section.kind in ("waiter", "holding", "suspended", "current") and subject is None:
            subject = _party(section.lines)
            if section.kind != "current":
                duration = _duration(section.match.group("dur"))
        elif section.kind == "holder":
            holder = _party(section.lines)
            if holder.lock is None and subject is not None and section.match.group("same"):
                holder.party.name, holder.party.ident = subject.party.name, subject.party.ident
            holders.append(holder)
        elif section.kind == "now":
            nows.append(section)
    if subject is None:
        return None
    lock = subject.lock or next((h.lock for h in holders if h.lock), None) or "?"
    holder_first = kind in ("hold", "held_across_await")
    if holder_first:
        holders.insert(0, subject)
    _infer_write([subject, *holders])
    _attach_now([h.party for h in holders], nows)
    return Report(
        kind=kind,
        lock=lock,
        duration_s=duration,
        time=0.0,
        subject=holders[0].party if holder_first else subject.party,
        holders=[h.party for h in holders],
        awaited=awaited,
    )


def _order(sections: list[_Section], kw: str) -> Report | None:
    before = after = another = subject = None
    holders: list[_Parsed] = []
    afters: list[_Parsed] = []
    seen_another = False
    for section in sections:
        if section.kind == "before":
            before = _party(section.lines, kw)
        elif section.kind == "after":
            parsed = _party(section.lines, kw)
            afters.append(parsed)
            if seen_another:
                subject = parsed
            elif after is None:
                after = parsed
        elif section.kind == "another":
            another = _party(section.lines, kw)
            seen_another = True
        elif section.kind == "holder":
            holders.append(_party(section.lines))
    if subject is None and len(afters) >= 2:
        subject = afters[-1]
    if subject is None:
        return None
    lock = _receiver(subject) or _receiver(before) or "?"
    other_lock = _receiver(another) or _receiver(after)
    own = [another] if another is not None else []
    return Report(
        kind="order",
        lock=lock,
        duration_s=0.0,
        time=0.0,
        subject=subject.party,
        holders=[h.party for h in holders if (h.lock or lock) == lock],
        other_lock=other_lock,
        earlier=[p.party for p in (before, after) if p is not None],
        other_holders=[p.party for p in own]
        + [h.party for h in holders if h.lock not in (None, lock)],
    )


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        return 0.0


def _infer_write(parsed: list[_Parsed]) -> None:
    """go-deadlock prints no modes: ``Lock`` on a lock that has readers is a write."""
    if any(p.party.mode == "read" for p in parsed):
        for p in parsed:
            if not p.explicit_mode and p.party.mode == "exclusive" and ".Lock()" in p.snippet:
                p.party.mode = "write"


def _attach_now(holders: list[Party], nows: list[_Section]) -> None:
    for section in nows:
        who = section.match.group("who").strip()
        target = next(
            (
                h
                for h in holders
                if not h.current_stack and f"{h.ident.split(' ', 1)[0]} {h.name}" == who
            ),
            None,
        )
        if target is None:
            target = next((h for h in holders if not h.current_stack), None)
        if target is not None:
            target.current_stack = [line.strip() for line in section.lines]
