"""The operation history of one Locust process: every operation from invocation to its end.

Jepsen's rule: an operation that was invoked and never completed is a result, not a gap.
Every protocol's members record through the one :class:`OperationHistory` of their process
(:func:`operation_history`), in :class:`~harness.loadgen.user.RoomUser`, below the protocol:

- **Operations** (``connect``, ``join``, ``broadcast``, ``leave``): :meth:`~OperationHistory.
  invoke` when a member starts one, :meth:`~OperationHistory.finish` when it ends (its sample,
  ``ok`` or failed with its reason, is fired as before). Until then it is *in flight*.
- **Owed deliveries** (``deliver``): a broadcast is owed to every other member of this process
  that is in the sender's room: its join was confirmed before the broadcast was invoked (where
  nothing confirms a join, it was sent or connected :data:`JOIN_RACE` seconds before: the
  server may not have seen it yet), and it did not begin to leave (or lose its connection)
  within :data:`LEAVE_RACE` seconds after (a server may rightly have seen the leave first).
  The sender's own echo is never owed, and a broadcast that failed owes nothing. An owed
  delivery is in flight until the member receives the message (matched by message id).
- **Lost**: an owed delivery is judged only once nothing more can arrive on its
  receiver's connection, or at the end of the run. A leave by frame does not end the wait:
  a server may still be sending what it queued for the member before the leave (its reply
  can overtake a queue). When the connection ends (the member's own close, a leave by
  closing, a broken connection), a missing message sent :data:`DELIVERY_GRACE` seconds or
  more before is lost (younger ones may still have been on their way: not owed). At the end
  of the run, after the drain (:meth:`~OperationHistory.end_run`), every owed delivery still
  missing and older than the grace is lost. A reconnect is a new membership, owed from its
  own confirmed join.
- **Pushes** the server originates (:mod:`harness.loadgen.pushes`): one it was triggered to
  send is owed as a broadcast is (the trigger is its sender, never a member), and a heartbeat
  is owed from the time it is due (:meth:`~OperationHistory.expect`).
- **Unfinished**: at the end of the run every operation and owed delivery still in flight
  becomes an ``unfinished`` sample with its age (``ok`` false, ``error`` ``"unfinished"``).

Owed deliveries are only known between members of the same Locust process (every member,
without ``--workers``), and only once a delivered message's id matched one the members sent:
a protocol whose messages carry another id owes nothing (it cannot be judged, not lost).

Counts per receiving member kind, ``owed`` (lost or received) and ``lost``, go to
``order.jsonl`` with the order counts (:mod:`harness.loadgen.order_tracker`), and so do the lost
ones'
send times (wall clock, to :data:`LOST_TIME_RESOLUTION_S`), so the pages can draw when the
lost messages were sent. They are only counted when a loss is judged (rare), never per message.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

__all__ = ["DELIVERY_GRACE", "JOIN_RACE", "LEAVE_RACE", "Membership", "Operation",
           "OperationHistory", "Unfinished", "operation_history"]

#: Seconds a delivery may take before a receiver's own close (or the run's end) makes it lost.
DELIVERY_GRACE = 1.0
#: A receiver that began to leave within this many seconds after a broadcast was not owed it.
LEAVE_RACE = 0.5
#: Where nothing confirms a join, a broadcast within this many seconds after it is not owed.
JOIN_RACE = 0.5
#: A lost delivery's send time is kept to this many seconds (counts per such slice).
LOST_TIME_RESOLUTION_S = 0.1


@dataclass(eq=False, slots=True)
class Operation:
    """One operation in flight: who started which, when (``time.monotonic()``)."""

    member: str
    member_kind: str
    op: str
    started: float


@dataclass(eq=False, slots=True)
class _Owed:
    message_id: str
    sent: float  # monotonic: the broadcast's invocation
    operation: Operation


@dataclass(eq=False, slots=True)
class Membership:
    """One continuous stay of a member in a room, from its confirmed join."""

    member: str
    member_kind: str
    room: str
    joined: float
    leaving: float | None = None
    owed: dict[str, _Owed] = field(default_factory=dict)


@dataclass(frozen=True)
class Unfinished:
    """An operation still in flight when the run ended, with its age in seconds."""

    member: str
    member_kind: str
    op: str
    age_s: float


class Broadcast:
    """The deliveries one broadcast owes, until it is known to have succeeded or failed."""

    def __init__(self, owed: list[tuple[Membership, _Owed]]) -> None:
        self.owed = owed


class OperationHistory:
    """Operations in flight and deliveries owed, in one Locust process (Sans-I/O: a clock in,
    counts and unfinished entries out)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.clock = clock
        #: Wall-clock time, only to say when a lost message was sent (``clock`` may jump less).
        self.wall = wall
        self.restart()

    def restart(self) -> None:
        """Start from nothing (a new test: the web UI's swarm again)."""
        #: Per (op, member kind), the operations in flight, oldest first (each is invoked
        #: at the clock's current time, so insertion order is start order). Kept apart so
        #: that reading the oldest few costs the same with 10 or 100,000 in flight.
        self._in_flight: dict[tuple[str, str], dict[Operation, None]] = {}
        #: Pushes owed from a time still to come (:meth:`expect`), by due time: they join
        #: their group when due, so each group stays oldest first and holds only what waits.
        self._not_due: list[tuple[float, int, Operation]] = []
        self._not_due_live: set[Operation] = set()
        #: Room -> member -> its current membership.
        self.rooms: dict[str, dict[str, Membership]] = {}
        self._memberships: dict[str, Membership] = {}
        #: Member -> its earlier memberships on the same connection with deliveries missing.
        self._departed: dict[str, list[Membership]] = {}
        #: Per receiving member kind: ``owed`` and ``lost`` since the last :meth:`take`.
        self.counts: dict[str, Counter[str]] = {}
        #: Per receiving member kind: lost deliveries by their message's send time (Unix
        #: seconds, to :data:`LOST_TIME_RESOLUTION_S`) since the last :meth:`take_lost_sent`.
        self.lost_sent: dict[str, Counter[float]] = {}
        #: Set once a delivered message matched an owed one: ids are comparable.
        self.matched = False
        self.ended = False

    # Operations.

    def invoke(self, member: str, member_kind: str, op: str) -> Operation:
        operation = Operation(member, member_kind, op, self.clock())
        self._add(operation)
        return operation

    def finish(self, operation: Operation) -> None:
        if operation in self._not_due_live:
            self._not_due_live.discard(operation)  # its heap entry is skipped when popped
            return
        group = self._in_flight.get((operation.op, operation.member_kind))
        if group is not None:
            group.pop(operation, None)

    def _add_when_due(self, operation: Operation) -> None:
        """In flight from ``operation.started``, which may be still to come."""
        if operation.started <= self.clock():
            self._add(operation)
            return
        heapq.heappush(self._not_due, (operation.started, id(operation), operation))
        self._not_due_live.add(operation)

    def _promote(self, now: float) -> None:
        """Every push that fell due by ``now`` joins its group (oldest first: heap order)."""
        while self._not_due and self._not_due[0][0] <= now:
            _, _, operation = heapq.heappop(self._not_due)
            if operation in self._not_due_live:
                self._not_due_live.discard(operation)
                self._add(operation)

    def _add(self, operation: Operation) -> None:
        key = (operation.op, operation.member_kind)
        group = self._in_flight.get(key)
        if group is None:
            group = self._in_flight[key] = {}
        group[operation] = None

    # Memberships and owed deliveries.

    def entered(self, member: str, member_kind: str, room: str, confirmed: bool = True) -> None:
        """``member``'s join of ``room`` was ``confirmed`` by the server, or sent (connected)
        where nothing confirms it."""
        self.left(member)
        joined = self.clock() + (0.0 if confirmed else JOIN_RACE)
        membership = Membership(member, member_kind, room, joined)
        self._memberships[member] = membership
        self.rooms.setdefault(room, {})[member] = membership

    def leaving(self, member: str) -> None:
        """``member`` begins to leave: what was broadcast just before is not owed to it."""
        membership = self._memberships.get(member)
        if membership is not None and membership.leaving is None:
            membership.leaving = self.clock()

    def left(self, member: str) -> None:
        """``member``'s membership ends (its leave is done, or it joins again); what it is
        still owed may arrive until its connection ends (:meth:`closed`)."""
        membership = self._memberships.pop(member, None)
        if membership is None:
            return
        if membership.leaving is None:
            membership.leaving = self.clock()
        room = self.rooms.get(membership.room, {})
        if room.get(member) is membership:
            del room[member]
        for message_id, owed in list(membership.owed.items()):
            if membership.leaving - owed.sent < LEAVE_RACE:
                del membership.owed[message_id]  # the server may rightly have seen the leave
                self.finish(owed.operation)      # first: not owed
        if membership.owed:
            self._departed.setdefault(member, []).append(membership)

    def closed(self, member: str) -> None:
        """``member``'s connection ended: judge everything it was owed on it."""
        self.left(member)
        now = self.clock()
        for membership in self._departed.pop(member, []):
            for owed in membership.owed.values():
                self.finish(owed.operation)
                if now - owed.sent >= DELIVERY_GRACE:
                    self._lost(membership.member_kind, owed.sent, now)
                # else: may have been on its way when the connection ended: not owed
            membership.owed.clear()

    def broadcast(self, sender: str, room: str, message_id: str) -> Broadcast:
        """``sender`` invokes a broadcast to ``room``: owed to every other member there."""
        now = self.clock()
        owed = []
        for membership in self.rooms.get(room, {}).values():
            if membership.member == sender or membership.joined >= now \
                    or membership.leaving is not None:
                continue
            entry = _Owed(message_id, now, Operation(membership.member,
                                                     membership.member_kind, "deliver", now))
            membership.owed[message_id] = entry
            self._add(entry.operation)
            owed.append((membership, entry))
        return Broadcast(owed)

    def expect(self, member: str, key: str, due: float) -> None:
        """``member`` is owed the push ``key`` (a heartbeat) from ``due`` (``clock``): it is
        in flight from then, and lost as a delivery is (:meth:`closed`, :meth:`end_run`).

        What is owed needs no id to match, so waiting and lost ones count from the start.
        """
        membership = self._memberships.get(member)
        if membership is None:
            return
        previous = membership.owed.pop(key, None)
        if previous is not None:
            self.finish(previous.operation)
        entry = _Owed(key, due, Operation(member, membership.member_kind, "deliver", due))
        membership.owed[key] = entry
        self._add_when_due(entry.operation)
        self.matched = True

    def broadcast_failed(self, broadcast: Broadcast) -> None:
        """The broadcast failed: it owes nothing (a copy that arrives anyway is not counted)."""
        for membership, entry in broadcast.owed:
            if membership.owed.get(entry.message_id) is entry:
                del membership.owed[entry.message_id]
            self.finish(entry.operation)

    def received(self, member: str, message_id: Any) -> None:
        """``member`` received the message ``message_id``."""
        key = message_id if type(message_id) is str else str(message_id)
        current = self._memberships.get(member)
        # The current membership first (almost every delivery), without building a list.
        if current is not None and (entry := current.owed.pop(key, None)) is not None:
            member_kind = current.member_kind
        else:
            membership = next((item for item in self._departed.get(member, ())
                               if key in item.owed), None)
            if membership is None:
                return
            entry = membership.owed.pop(key)
            if not membership.owed:
                self._departed[member].remove(membership)
            member_kind = membership.member_kind
        self.matched = True
        self.finish(entry.operation)
        self._count(member_kind, "owed")

    # Reading it.

    def _groups(self) -> Iterator[tuple[tuple[str, str], dict[Operation, None]]]:
        """The non-empty groups in flight (owed deliveries only once ids were seen to match:
        before that they may never be recognised)."""
        self._promote(self.clock())
        for key, group in self._in_flight.items():
            if group and (self.matched or key[0] != "deliver"):
                yield key, group

    def waiting(self) -> list[tuple[Operation, float]]:
        """Every operation in flight with its age in seconds, oldest first. It walks them
        all: for the live view use :meth:`waiting_oldest`."""
        now = self.clock()
        every = [operation for _, group in self._groups() for operation in group]
        every.sort(key=lambda operation: operation.started)
        return [(operation, now - operation.started) for operation in every]

    def waiting_oldest(self, limit: int) -> dict[tuple[str, str], tuple[int, list[float]]]:
        """Per (op, member kind) in flight: how many, and the ages in seconds of the oldest
        ``limit`` of them, oldest first. Costs at most ``limit`` per group, however many are
        in flight (read every 0.25 s while thousands of deliveries are owed)."""
        now = self.clock()
        return {key: (len(group), [now - operation.started
                                   for operation in islice(group, limit)])
                for key, group in self._groups()}

    def end_run(self) -> list[Unfinished]:
        """The run ends (after the drain): every owed delivery still missing and older than
        :data:`DELIVERY_GRACE` is lost, and every operation in flight is unfinished."""
        self.ended = True
        now = self.clock()
        memberships = list(self._memberships.values())
        memberships += [item for departed in self._departed.values() for item in departed]
        for membership in memberships:
            for entry in membership.owed.values():
                if self.matched and now - entry.sent >= DELIVERY_GRACE \
                        and (membership.leaving is None
                             or membership.leaving - entry.sent >= LEAVE_RACE):
                    self._lost(membership.member_kind, entry.sent, now)
                else:
                    self.finish(entry.operation)  # not owed after all: not a result
            membership.owed.clear()
        unfinished = [Unfinished(operation.member, operation.member_kind, operation.op, age)
                      for operation, age in self.waiting()]
        self._in_flight.clear()
        self._not_due.clear()
        self._not_due_live.clear()
        return unfinished

    def take(self) -> dict[str, Counter[str]]:
        """The owed/lost counts per member kind since the last call (and start over)."""
        counts, self.counts = self.counts, {}
        if not self.matched:
            return {}  # nothing owed can be judged yet: keep counting from scratch
        return counts

    def take_lost_sent(self) -> dict[str, Counter[float]]:
        """The lost deliveries per member kind by send time since the last call (and start
        over); empty while :meth:`take` would be (nothing owed can be judged yet)."""
        lost, self.lost_sent = self.lost_sent, {}
        return lost if self.matched else {}

    def _lost(self, member_kind: str, sent: float, now: float) -> None:
        """An owed delivery sent at ``sent`` (``clock``) is lost, judged at ``now``."""
        self._count(member_kind, "owed", "lost")
        sent_wall = self.wall() - (now - sent)
        slot = round(round(sent_wall / LOST_TIME_RESOLUTION_S) * LOST_TIME_RESOLUTION_S, 3)
        self.lost_sent.setdefault(member_kind, Counter())[slot] += 1

    def _count(self, member_kind: str, *names: str) -> None:
        counter = self.counts.get(member_kind)
        if counter is None:  # not setdefault: it would build a Counter per delivery
            counter = self.counts[member_kind] = Counter()
        for name in names:
            counter[name] += 1


_histories: dict[Any, OperationHistory] = {}


def operation_history(environment: Any) -> OperationHistory:
    """The history of ``environment``'s process (created on first use)."""
    history = _histories.get(environment)
    if history is None:
        history = _histories[environment] = OperationHistory()
    return history
