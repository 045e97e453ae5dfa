"""Fault kind ``reconnect``: the slow member drops its connection abruptly and comes back,
again and again, like a flapping mobile client.

Scenario table::

    [[faults]]
    kind = "reconnect"
    interval = "1s"     # optional, default 1s: connected this long between drops (>= 50ms)
    down = "200ms"      # optional, default 200ms: offline this long before reconnecting

While the fault is in force, a slow member at a fault point (in its room, between operations)
that has been connected for ``interval`` ends its connection with a TCP reset: no leave, no
close frame, the way a phone losing its network looks to a server. It stays away ``down``,
then connects and joins its room again (a normal ``join``, timed and checked like any). When
the fault is lifted it stays connected. No proxy can do this per member and on cue, so the load
generator acts it out: a member fault (:data:`MEMBER`).

What it means to the verdict (see ``docs/faults.md``): a drop is the member's own doing, so
what it was owed around the drop is judged by the history's usual rule for a connection that
ends: a message broadcast less than ``LEAVE_RACE`` before the drop, or still within
``DELIVERY_GRACE`` of its send when the connection ended, is not owed; one the server had a
full grace period to deliver to a reading member and did not is lost, because the server lost
it. While the member is away nothing is owed to it; its rejoin is a new membership. A rejoin
that fails (e.g. the server still holds the old connection's name) is a failed ``join``: the
server's answer to a flapping client is the server's result.

Each drop and rejoin is reported (``{"fault": "reconnect", "event": "dropped" | "rejoined"}``);
a fault phase with no drop at all is the ERROR "fault not in effect", never a PASS.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.faults.base import (
    DOWNSTREAM,
    MEMBER,
    FaultKind,
    MemberActor,
    OneToxic,
    Param,
    read_whole_milliseconds,
)
from harness.measure.measurements import Sample

NAME = "reconnect"
#: Shortest connected time between two drops, in ms: below it a member does little else.
MIN_INTERVAL_MS = 50
#: Longest ``interval`` or ``down``, in ms.
MAX_MS = 600_000


@dataclass(frozen=True)
class ReconnectFault(OneToxic):
    """The slow members drop their connections every ``interval_ms`` and come back after
    ``down_ms``."""

    NAME: ClassVar[str] = NAME
    WHERE: ClassVar[str] = MEMBER
    #: ``interval`` and ``down`` in ms (the settings the members act out).
    ATTRIBUTES: ClassVar[Mapping[str, str]] = {"interval": "interval_ms", "down": "down_ms"}
    interval_ms: int = 1000
    down_ms: int = 200
    stream: str = DOWNSTREAM


def parse(table: Mapping[str, Any]) -> ReconnectFault:
    """Validate a ``kind = "reconnect"`` table.

    Raises:
        ValueError: ``stream`` given, or interval/down not whole ms within bounds.
    """
    if "stream" in table:
        raise ValueError('a reconnect has no stream (the member drops its whole connection); '
                         'remove "stream"')
    values = {"interval": read_whole_milliseconds(table, "interval", "1s"),
              "down": read_whole_milliseconds(table, "down", "200ms")}
    return build(values, DOWNSTREAM)


def build(values: Mapping[str, int], stream: str) -> ReconnectFault:
    """The fault from whole ms ``interval`` and ``down``.

    Raises:
        ValueError: out of bounds.
    """
    interval, down = values["interval"], values["down"]
    if not MIN_INTERVAL_MS <= interval <= MAX_MS:
        raise ValueError(f"interval must be from {MIN_INTERVAL_MS}ms to {MAX_MS // 1000}s, "
                         f'got {interval} ms; use e.g. interval = "1s"')
    if not 0 <= down <= MAX_MS:
        raise ValueError(f"down must be from 0ms to {MAX_MS // 1000}s, got {down} ms; "
                         'use e.g. down = "200ms"')
    return ReconnectFault(interval_ms=interval, down_ms=down)


def act(member: MemberActor, settings: Mapping[str, int]) -> None:
    """At a fault point: once connected for ``interval``, drop, stay away ``down`` (less if
    the fault is lifted meanwhile), rejoin. The first fault point of the fault only starts
    the clock."""
    state = member.fault_state(NAME)
    now = time.monotonic()
    since = state.setdefault("connected_since", now)
    if now - since < settings.get("interval", 1000) / 1000:
        return
    member.drop_connection()
    member.report_fault({"fault": NAME, "event": "dropped"})
    member.wait_lifted(NAME, settings.get("down", 200) / 1000)
    try:
        member.rejoin()
    finally:
        state["connected_since"] = time.monotonic()
    member.report_fault({"fault": NAME, "event": "rejoined"})


@dataclass
class ReconnectCheck:
    """How often each slow member dropped and rejoined (a :class:`FaultCheck`)."""

    drops: dict[str, int]
    rejoins: dict[str, int]
    errors: list[str] = field(default_factory=list)

    @property
    def cleared(self) -> bool:
        """Always: a member that stops dropping is connected (or its rejoin failed, which its
        join reports)."""
        return True

    def summary(self) -> str:
        """``reconnect: slow-0 dropped 9 times, rejoined 9``, one member per line."""
        if not self.drops:
            return self.errors[0] if self.errors else "reconnect: no drop"
        return "\n".join(f"reconnect: {member} dropped {count} times, rejoined "
                         f"{self.rejoins.get(member, 0)}" for member, count in self.drops.items())

    def to_dict(self, origin: float) -> dict[str, Any]:
        """Drops and rejoins per member, and the errors."""
        return {"drops": dict(self.drops), "rejoins": dict(self.rejoins),
                "errors": list(self.errors)}


class ReconnectEvidence:
    """Each member's drops and rejoins as the reports come in
    (a :class:`~harness.faults.base.MemberEvidence`)."""

    def __init__(self) -> None:
        self.drops: Counter[str] = Counter()
        self.rejoins: Counter[str] = Counter()

    def add(self, reports: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
        """Count the drops and rejoins among ``reports`` (it needs no sample)."""
        for entry in reports:
            if entry.get("fault") == NAME:
                member = str(entry.get("member", "?"))
                if entry.get("event") == "dropped":
                    self.drops[member] += 1
                elif entry.get("event") == "rejoined":
                    self.rejoins[member] += 1

    def check(self, *, fault_started: float | None, lifted_at: float | None,
              slow_members: int) -> ReconnectCheck:
        """The drops and rejoins so far; no drop at all while the fault was on is the ERROR
        "fault not in effect"."""
        result = ReconnectCheck(dict(sorted(self.drops.items())),
                                dict(sorted(self.rejoins.items())))
        if fault_started is not None and not self.drops:
            result.errors.append(
                "reconnect: no slow member dropped its connection during the fault (each "
                "drops only after `interval` connected, in its room; shorten interval or "
                "lengthen the fault)")
        return result


def describe(attributes: Mapping[str, Any]) -> str:
    """``reconnect every 1000 ms, 200 ms down``."""
    return (f"reconnect every {attributes.get('interval', '?')} ms, "
            f"{attributes.get('down', '?')} ms down")


KIND = FaultKind(
    name=NAME,
    keys=("interval", "down"),
    parse=parse,
    summary="the slow member drops its connection abruptly (TCP reset) every `interval` and "
            "rejoins after `down`, like a flapping mobile client",
    toxic_type=NAME,
    params=(
        Param("interval", "interval", "ms", default=1000, minimum=MIN_INTERVAL_MS,
              maximum=MAX_MS),
        Param("down", "down", "ms", default=200, minimum=0, maximum=MAX_MS),
    ),
    build=build,
    where=MEMBER,
    describe=describe,
    act=act,
    evidence=ReconnectEvidence,
)
