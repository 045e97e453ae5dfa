"""Did the stall take effect, and did it clear? Judged from what the stalled members reported.

A stalled member samples its socket's receive queue (FIONREAD) and its peer's send buffer (the
server's socket, read with ``ss -tm``; :mod:`harness.loadgen.stalled_member`). While the server can
still send, the member's queue grows; once the member's receive buffer is full its TCP window
closes, and what the server sends piles up in the server's own send buffer until that is full
too: then the server's ``send`` blocks. **Backpressure was reached** at the first sample where

* the member's receive queue has grown by at most :data:`PLATEAU_GROWTH` bytes over the
  :data:`PLATEAU_S` seconds before it (the window is closed), and
* the server's send buffer holds at least :data:`FULL_FRACTION` of its size (it is full; the
  kernel counts a little overhead, so a blocked socket does not always show 100 %).

Where ``ss`` cannot read the peer's socket, the first condition alone decides, and the report
says so (a closed window alone does not prove that the server's buffer is full: with Linux's
default ``tcp_wmem`` the server's socket holds up to 4 MB more). A stall during which
backpressure is never reached did not test what it was meant to test: the run's verdict is
ERROR "backpressure was never reached", naming the member, never PASS.

When the stall is lifted, the **causal check**: the stall clears when the member has read its
backlog (or the server disconnected it, e.g. with 1008) and fast members' joins complete again
after the lift. Both are reported (``result.json`` ``extra.stall``, the report), not judged:
a run stopped before the lift has nothing to say about it.

The evidence is kept as it comes in (:class:`StallEvidence`): a live run adds the reports and
samples its readers read on each tick and judges again at the cost of what is new, while
:func:`check_stalls` adds a whole run's at once; both judge the same.
"""

from __future__ import annotations

import json
from bisect import bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.measure.measurements import Sample
from harness.measure.tail import LineTail

__all__ = ["FULL_FRACTION", "PLATEAU_GROWTH", "PLATEAU_S", "MemberFaultTail", "MemberStall",
           "QueueSample", "StallCheck", "StallEvidence", "check_stalls"]

#: How long the queue must stay flat, in seconds, to count as "stopped growing".
PLATEAU_S = 1.0
#: The most the queue may grow over :data:`PLATEAU_S` and still count as flat, in bytes (a
#: closed window lets no payload in; the kernel compacting a full queue may admit a little).
PLATEAU_GROWTH = 2048
#: The share of the server's send buffer that counts as full.
FULL_FRACTION = 0.8


@dataclass(frozen=True)
class QueueSample:
    """One sample: the member's receive queue and, if known, the server's send buffer."""

    time: float
    queued: int
    peer_queued: int | None = None
    peer_buffer: int | None = None

    @property
    def peer_full(self) -> bool | None:
        """Whether the server's send buffer is full; None when unknown."""
        if self.peer_queued is None or not self.peer_buffer:
            return None
        return self.peer_queued >= FULL_FRACTION * self.peer_buffer


@dataclass
class MemberStall:
    """What one stalled member showed.

    Attributes:
        member: Its name (``slow-0``).
        stalled_at: When it stopped reading.
        resumed_at: When it read again (None: the run ended first).
        peak_bytes: Its receive queue's largest sample.
        backpressure_at: When backpressure was first reached: the queue flat for
            :data:`PLATEAU_S` and the server's send buffer full (None: it never was).
        backpressure_bytes: The queue then.
        peer_buffer_bytes: The server's send buffer size then (None: ``ss`` could not tell,
            and the receive queue alone decided).
        peer_queued_bytes: What the server's send buffer held then (None: unknown).
        cleared: ``"drained"`` (backlog read), ``"closed"`` (the server disconnected it),
            ``"not_cleared"`` or None (the run ended before it was seen).
        cleared_at: When.
        close_code: The server's close code, when it closed the connection with one.
        close_reason: Its reason, or the error that ended the connection.
        deliveries_after_resume: Messages this member received after resuming (samples
            named after it).
    """

    member: str
    stalled_at: float
    resumed_at: float | None = None
    peak_bytes: int = 0
    backpressure_at: float | None = None
    backpressure_bytes: int | None = None
    deliveries_after_resume: int = 0
    peer_buffer_bytes: int | None = None
    peer_queued_bytes: int | None = None
    close_reason: str = ""
    cleared: str | None = None
    cleared_at: float | None = None
    close_code: int | None = None
    queue: list[QueueSample] = field(default_factory=list)

    def to_dict(self, origin: float) -> dict[str, Any]:
        """JSON for result.json; times in seconds since ``origin`` (load start)."""
        def since(moment: float | None) -> float | None:
            return None if moment is None else round(moment - origin, 3)

        return {
            "member": self.member, "stalled_s": since(self.stalled_at),
            "resumed_s": since(self.resumed_at), "peak_bytes": self.peak_bytes,
            "backpressure_s": since(self.backpressure_at),
            "backpressure_after_stall_s": (None if self.backpressure_at is None else
                                           round(self.backpressure_at - self.stalled_at, 3)),
            "backpressure_bytes": self.backpressure_bytes,
            "peer_buffer_bytes": self.peer_buffer_bytes,
            "peer_queued_bytes": self.peer_queued_bytes, "cleared": self.cleared,
            "cleared_s": since(self.cleared_at), "close_code": self.close_code,
            "close_reason": self.close_reason,
            "deliveries_after_resume": self.deliveries_after_resume,
            "queue": [[round(sample.time - origin, 3), sample.queued, sample.peer_queued,
                       sample.peer_buffer] for sample in self.queue],
        }


@dataclass
class StallCheck:
    """The stall check of one run.

    Attributes:
        members: One entry per member that stalled.
        lifted_at: When the stall was lifted (None: never, the run ended with it on).
        joins_recovered_at: When the first fast join after the lift completed.
        errors: Lines that make the verdict ERROR (backpressure never reached).
    """

    members: list[MemberStall]
    lifted_at: float | None
    joins_recovered_at: float | None
    errors: list[str]

    @property
    def cleared(self) -> bool | None:
        """The causal check: every member cleared and fast joins completed after the lift;
        None when the stall was never lifted during the run."""
        if self.lifted_at is None:
            return None
        return bool(self.members) and self.joins_recovered_at is not None and all(
            member.cleared in ("drained", "closed") for member in self.members)

    def summary(self) -> str:
        """One line per member for the console: backpressure, then how it cleared."""
        lines = []
        for member in self.members:
            if member.backpressure_at is None:
                head = f"{member.member}: backpressure never reached (queue peak " \
                       f"{_size(member.peak_bytes)})"
            else:
                into = member.backpressure_at - member.stalled_at
                queued = _size(member.backpressure_bytes or 0)
                server = (f", server's send buffer full: {_size(member.peer_queued_bytes or 0)}"
                          f" queued, buffer {_size(member.peer_buffer_bytes)}"
                          if member.peer_buffer_bytes else ", judged by the receive queue alone")
                head = (f"{member.member}: backpressure {into:.1f} s into the stall (receive "
                        f"queue {queued}{server})")
            lines.append(f"stall: {head}; {self.clear_text(member)}")
        return "\n".join(lines) or "stall: no member stalled"

    def clear_text(self, member: MemberStall) -> str:
        """How ``member``'s stall cleared after the lift, in words."""
        if self.lifted_at is None:
            return "the run ended before the stall was lifted"
        if member.cleared == "drained":
            how = f"backlog read {member.cleared_at - self.lifted_at:.1f} s after the lift" \
                if member.cleared_at else "backlog read"
        elif member.cleared == "closed":
            code = f" with {member.close_code}" if member.close_code else ""
            how = f"disconnected by the server{code} ({member.close_reason or 'no reason'})"
        elif member.cleared == "not_cleared":
            how = "backlog NOT read"
        else:
            how = "not seen to clear before the run ended"
        joins = "no fast join completed after the lift"
        if self.joins_recovered_at is not None:
            joins = ("fast joins completed again "
                     f"{self.joins_recovered_at - self.lifted_at:.1f} s after the lift")
        return f"{how}; {joins}; {member.deliveries_after_resume} deliveries after resuming"

    def to_dict(self, origin: float) -> dict[str, Any]:
        """``result.json``'s ``extra.stall``."""
        return {
            "cleared": self.cleared,
            "lifted_s": None if self.lifted_at is None else round(self.lifted_at - origin, 3),
            "joins_recovered_s": (None if self.joins_recovered_at is None
                                  else round(self.joins_recovered_at - origin, 3)),
            "errors": list(self.errors),
            "members": [member.to_dict(origin) for member in self.members],
            "summary": self.summary(),
        }


class MemberFaultTail(LineTail):
    """The members' reports (``member_faults.jsonl``, every member fault kind's) completed
    since the last call: JSON objects with a numeric ``time``; a bad line is skipped."""

    def read_new(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.new_lines():
            try:
                entry = json.loads(line.decode("utf-8", errors="replace"))
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("time"), int | float):
                entries.append(entry)
        return entries


def backpressure_point(queue: Sequence[QueueSample]) -> QueueSample | None:
    """The first sample at which the rule of the module's text holds (the queue flat over the
    :data:`PLATEAU_S` before it, and the server's send buffer full at it); None if it never
    does.

    Its time is the moment both held, not when the queue began to flatten: the server's
    buffer may still fill for seconds after that (it is what the summary stamps).
    """
    before = -1  # the last sample at least PLATEAU_S older than the current one
    for sample in queue:
        while before + 1 < len(queue) and queue[before + 1].time <= sample.time - PLATEAU_S:
            before += 1
        if before < 0 or sample.queued <= 0 or sample.peer_full is False:
            continue
        if sample.queued - queue[before].queued <= PLATEAU_GROWTH:
            return sample
    return None


def check_stalls(reports: Iterable[dict[str, Any]], samples: Iterable[Sample], *,
                 fault_started: float | None, lifted_at: float | None,
                 slow_members: int) -> StallCheck:
    """Judge the stall of a whole run at once (:meth:`StallEvidence.check`).

    Args:
        reports: The members' report entries (:class:`MemberFaultTail`).
        samples: Every sample of the run (fast joins and slow deliveries after the lift).
        fault_started: When the stall was switched on; None: never (nothing to judge).
        lifted_at: When it was lifted; None when the run ended with it on.
        slow_members: How many members were asked to stall.
    """
    evidence = StallEvidence()
    evidence.add(reports, samples)
    return evidence.check(fault_started=fault_started, lifted_at=lifted_at,
                          slow_members=slow_members)


class StallEvidence:
    """The stall's evidence as it comes in: the members' reports and the run's samples, each
    added once (:meth:`add`), in any order; :meth:`check` judges what was added so far.

    Each member's reports are applied in time order, as far as they were applied before (one
    that arrives earlier than the last has its member rebuilt), and the samples are kept as
    sorted times of what the check counts, and a member's queue is judged again only when it
    changed (after the lift it no longer grows). So a recovery's checks cost what is new, and
    adding a run's evidence in parts judges as adding it at once (:func:`check_stalls`).
    """

    def __init__(self) -> None:
        self._members: dict[str, _MemberReports] = {}
        self._added = 0  # reports added so far: a report's place orders those of one time
        self._deliveries: dict[str | None, list[float]] = {}  # ok ones, by member, sorted
        self._fast_joins: list[float] = []  # ok ones, sorted

    def add(self, reports: Iterable[dict[str, Any]], samples: Iterable[Sample]) -> None:
        """Add reports and samples not added before."""
        for entry in reports:
            name = str(entry.get("member"))
            member = self._members.get(name)
            if member is None:
                member = self._members[name] = _MemberReports(name)
            member.add(float(entry["time"]), self._added, entry)
            self._added += 1
        for sample in samples:
            if not sample.ok:
                continue
            if sample.op == "deliver":  # mostly in time order: insort appends
                insort(self._deliveries.setdefault(sample.member, []), sample.time)
            elif sample.op == "join" and sample.member_kind == "fast":
                insort(self._fast_joins, sample.time)

    def check(self, *, fault_started: float | None, lifted_at: float | None,
              slow_members: int) -> StallCheck:
        """Judge what was added so far.

        Args:
            fault_started: When the stall was switched on; None: never (nothing to judge).
            lifted_at: When it was lifted; None when the run ended with it on (so far).
            slow_members: How many members were asked to stall.
        """
        stalls = [(reports.since, reports) for reports in self._members.values()
                  if reports.current() is not None]
        # Copies, in the order of their stalls: what the check sets is not evidence.
        members: list[MemberStall] = []
        errors: list[str] = []
        for _, reports in sorted(stalls, key=lambda item: item[0]):
            member, point, never_reached = reports.judged()
            members.append(member)
            if point is not None:
                member.backpressure_at, member.backpressure_bytes = point.time, point.queued
                member.peer_buffer_bytes, member.peer_queued_bytes = point.peer_buffer, \
                    point.peer_queued
            elif fault_started is not None:
                errors.append(never_reached)
            if member.resumed_at is not None:
                times = self._deliveries.get(member.member, [])
                member.deliveries_after_resume = len(times) - bisect_right(times,
                                                                           member.resumed_at)
        if fault_started is not None:
            stalled = {member.member for member in members}
            for index in range(slow_members):
                if f"slow-{index}" not in stalled:
                    errors.append(f"backpressure was never reached: member slow-{index} never "
                                  "stalled (it was not in its room while the fault was on)")
        recovered = None
        if lifted_at is not None:
            after = bisect_right(self._fast_joins, lifted_at)
            if after < len(self._fast_joins):
                recovered = self._fast_joins[after]
        return StallCheck(members, lifted_at, recovered, errors)


class _MemberReports:
    """One member's reports in time order, and the stall they add up to so far."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: (time, place among all reports, entry); places differ, so entries never compare.
        self.entries: list[tuple[float, int, dict[str, Any]]] = []
        self.applied = 0  # entries applied to :attr:`stall`
        self.stall: MemberStall | None = None
        #: (time, place) of the report that began the stall: orders the members.
        self.since = (0.0, 0)
        #: What :meth:`judged` worked out of the queue last, and of which state: after the
        #: lift the queue stops growing, so a recovery's checks do not walk it again.
        self._judged: tuple[tuple[Any, ...], list[QueueSample], QueueSample | None, str] | None
        self._judged = None

    def add(self, moment: float, place: int, entry: dict[str, Any]) -> None:
        if self.entries and moment < self.entries[-1][0]:  # arrived late: rebuild
            insort(self.entries, (moment, place, entry))
            self.applied, self.stall, self._judged = 0, None, None
        else:
            self.entries.append((moment, place, entry))

    def judged(self) -> tuple[MemberStall, QueueSample | None, str]:
        """A copy of the stall (call :meth:`current` first), its backpressure point (None:
        never reached) and the error that says so. The queue is walked again only when it
        or what the error quotes changed (it only grows, until a rebuild)."""
        stall = self.stall
        assert stall is not None
        state = (len(stall.queue), stall.resumed_at, stall.peak_bytes, stall.stalled_at)
        if self._judged is None or self._judged[0] != state:
            queue = list(stall.queue)
            point = backpressure_point(queue)
            self._judged = (state, queue, point, "" if point is not None else _never_reached(stall))
        _, queue, point, never_reached = self._judged
        return replace(stall, queue=queue), point, never_reached

    def current(self) -> MemberStall | None:
        """The stall as the reports so far tell it; None: the member never stalled."""
        for moment, place, entry in self.entries[self.applied:]:
            self._apply(moment, place, entry)
        self.applied = len(self.entries)
        return self.stall

    def _apply(self, moment: float, place: int, entry: dict[str, Any]) -> None:
        event = entry.get("event")
        if event == "stalled":
            if self.stall is None:
                self.stall, self.since = MemberStall(self.name, moment), (moment, place)
            return
        member = self.stall
        if member is None:
            return
        if event == "queue" and isinstance(entry.get("bytes"), int):
            if member.resumed_at is None:
                peer_queued, peer_buffer = entry.get("peer_queued"), entry.get("peer_buffer")
                member.queue.append(QueueSample(
                    moment, entry["bytes"],
                    peer_queued if isinstance(peer_queued, int) else None,
                    peer_buffer if isinstance(peer_buffer, int) else None))
            member.peak_bytes = max(member.peak_bytes, entry["bytes"])
        elif event == "resumed":
            member.resumed_at = moment
        elif event in ("drained", "not_cleared") and member.cleared is None:
            member.cleared, member.cleared_at = str(event), moment
        elif event == "closed":  # a close after the backlog was read counts as the way out
            member.cleared, member.cleared_at = "closed", moment
            code = entry.get("code")
            member.close_code = code if isinstance(code, int) else None
            member.close_reason = str(entry.get("reason") or "")


def _never_reached(member: MemberStall) -> str:
    """The error of a member whose stall never reached backpressure."""
    stalled_for = (member.resumed_at or (member.queue[-1].time if member.queue
                                         else member.stalled_at)) - member.stalled_at
    peers = [sample for sample in member.queue if sample.peer_buffer]
    peer = ""
    if peers:
        most = max(sample.peer_queued or 0 for sample in peers)
        peer = (f", the server's send buffer at most {_size(most)} of "
                f"{_size(peers[-1].peer_buffer or 0)}")
    return (f"backpressure was never reached: member {member.member} stalled "
            f"{stalled_for:.1f} s (receive queue peak {_size(member.peak_bytes)}{peer}) "
            "and the server's send never blocked, so the run did not test a stalled "
            "member: raise [load] body_size or the fault window")


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    return f"{size / 1024:.0f} KiB"
