"""Pushes the server originates, on the members' side: each member's timer, and the trigger.

:class:`PushTimer` (one per member) times each :class:`~harness.protocols.Pushed` the member
receives the way ``[push] timing`` says (:mod:`harness.push.settings`) and records what the
member is owed in the process's operation history (:mod:`harness.loadgen.history`):

- ``server_clock``: the member's wall clock minus the push's ``sent_at``; nothing is owed;
- ``heartbeat``: how late the push came after it was due (``period`` after the previous one,
  or after the join); the next one is owed from its due time;
- ``trigger``: the member's wall clock minus when the trigger's request started (carried in
  the push's id, :mod:`harness.protocols.sendtime`, so a member in any Locust process can
  time it); owed as a broadcast is, from the request's start.

:class:`TriggerLoop` (one per Locust process that runs members) calls the trigger for every
room each ``interval``, each request in a greenlet of its own (bounded by ``--op-timeout``), and
reports each as a ``trigger`` sample (``request_type`` ``fast``: it reaches the server as a
fast member does, not through a proxy; member ``trigger``); a failed request owes nothing and
is an error sample with the reason, counted by ``errors.ratio``. With ``--workers`` each worker
triggers for itself, and only its own members are owed its pushes.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from itertools import count
from typing import Any

import gevent

from harness.loadgen.history import OperationHistory
from harness.protocols import Pushed
from harness.protocols.sendtime import send_time, stamped
from harness.push import HEARTBEAT, SERVER_CLOCK, TRIGGER, PushSettings
from harness.push.trigger import TriggerFailed, TriggerRequest, http_base, send

__all__ = ["HEARTBEAT_KEY", "TRIGGER_KIND", "PushTimer", "TriggerLoop"]

logger = logging.getLogger(__name__)

#: The owed-delivery key of a member's next heartbeat (one at a time).
HEARTBEAT_KEY = "heartbeat"
#: The ``name`` (operation) and member of the trigger's samples: the harness, not a member.
TRIGGER_KIND = "trigger"
#: The member kind of the trigger's samples: it goes to the server directly, as fast members do.
TRIGGER_MEMBER_KIND = "fast"


class PushTimer:
    """One member's pushes: their delivery times, and what the member is owed."""

    def __init__(self, settings: PushSettings, history: OperationHistory, member: str,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.history = history
        self.member = member
        self.clock = clock
        self.wall = wall
        #: Heartbeats: when the member last got one (or joined); None out of a room.
        self._last: float | None = None

    def joined(self) -> None:
        """The member is in the room (its join recorded in the history): heartbeats are
        owed from ``period`` on."""
        if self.settings.timing == HEARTBEAT:
            self._last = self.clock()
            self.history.expect(self.member, HEARTBEAT_KEY, self._last + self.settings.period_s)

    def left(self) -> None:
        """The member left (or is leaving): no heartbeat is due any more."""
        self._last = None

    def received(self, push: Pushed) -> float | None:
        """The push's delivery time in seconds, ``None`` when it cannot be timed (no server
        time, an id this process did not trigger, a heartbeat out of a room)."""
        timing = self.settings.timing
        if timing == SERVER_CLOCK:
            return None if push.sent_at is None else max(0.0, self.wall() - push.sent_at)
        if timing == HEARTBEAT:
            if self._last is None:
                return None
            now = self.clock()
            late = max(0.0, now - (self._last + self.settings.period_s))
            self._last = now
            self.history.received(self.member, HEARTBEAT_KEY)
            self.history.expect(self.member, HEARTBEAT_KEY, now + self.settings.period_s)
            return late
        if push.id is None:
            return None
        self.history.received(self.member, push.id)
        sent = send_time(push.id)
        return None if sent is None else max(0.0, self.wall() - sent)


class TriggerLoop:
    """Call the HTTP trigger for every room each interval, until the run drains."""

    def __init__(self, environment: Any, settings: PushSettings, history: OperationHistory,
                 target_url: str, rooms: int, timeout_s: float,
                 draining: Callable[[], bool], body_size: int = 0) -> None:
        assert settings.trigger is not None and settings.timing == TRIGGER
        self.environment = environment
        self.trigger = settings.trigger
        self.history = history
        self.base = http_base(target_url)
        self.rooms = [f"room-{index}" for index in range(max(rooms, 1))]
        self.timeout_s = timeout_s
        self.draining = draining
        self.body_size = body_size
        self._ids = count(1)
        self._prefix = f"push-{os.getpid()}"
        self._loop: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._loop is None:
            self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None

    def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            if not (self.draining() or self.history.ended):
                for room in self.rooms:
                    gevent.spawn(self.fire, room)
            next_at += self.trigger.interval_s
            gevent.sleep(max(0.0, next_at - time.monotonic()))

    def fire(self, room: str) -> None:
        """One trigger for ``room``: owed to its members from the request's start."""
        sent = time.time()
        # The send time rides in the id, so a member in any Locust process can time it.
        push_id = stamped(f"{self._prefix}-{next(self._ids)}", sent)
        request = TriggerRequest.build(self.trigger, self.base, {
            "room": room, "id": push_id, "sent_at": repr(sent), "body": _body(self.body_size)})
        owed = self.history.broadcast(TRIGGER_KIND, room, push_id)
        operation = self.history.invoke(TRIGGER_KIND, TRIGGER_MEMBER_KIND, TRIGGER_KIND)
        started = time.perf_counter()
        error: TriggerFailed | None = None
        try:
            send(request, self.timeout_s)
        except TriggerFailed as exc:
            error = exc
            self.history.broadcast_failed(owed)
        self.history.finish(operation)
        self.environment.events.request.fire(
            request_type=TRIGGER_MEMBER_KIND, name=TRIGGER_KIND,
            response_time=(time.perf_counter() - started) * 1000, response_length=0,
            exception=error, context={"member": TRIGGER_KIND})


def _body(size: int) -> str:
    """Fresh random text for ``{body}``: ``size`` characters (``--body-size``; 16 for 0), base64,
    so it needs no escaping in JSON and a stalled member's buffers fill with real bytes."""
    size = size if size > 0 else 16
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]
