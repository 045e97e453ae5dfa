"""Fault kind ``stall``: the slow member stops reading its socket, then resumes.

Scenario table::

    [[faults]]
    kind = "stall"

For the fault window each slow member stops reading at the transport level: the process's
receiver (:mod:`harness.loadgen.receiver`) stops watching its socket, so nothing is read, no
ping is answered and no message is acknowledged, whatever the protocol. It stays in its room and
sends nothing. When the fault is lifted it reads again. No proxy can do this (Toxiproxy's toxics
keep reading), so the load generator acts it out: a member fault (:data:`MEMBER`).

The member samples its socket's receive queue (FIONREAD) during the stall; once the queue stops
growing, the server's send buffer is full: backpressure was reached. A stall that never gets
there is the ERROR "backpressure was never reached" (see :mod:`harness.measure.stall_evidence`),
never a
PASS. Publishers' bodies (``[load] body_size``) set how fast the buffers fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import DOWNSTREAM, MEMBER, FaultKind, MemberActor, OneToxic
from harness.measure.stall_evidence import StallEvidence

NAME = "stall"


@dataclass(frozen=True)
class StallFault(OneToxic):
    """The slow members stop reading their sockets for the fault window."""

    NAME: ClassVar[str] = NAME
    WHERE: ClassVar[str] = MEMBER
    stream: str = DOWNSTREAM  # a stall has no settings (no ATTRIBUTES)


def parse(table: Mapping[str, Any]) -> StallFault:
    """Validate a ``kind = "stall"`` table.

    Raises:
        ValueError: the table sets ``stream`` (a stall stops all reading; it has no direction).
    """
    if "stream" in table:
        raise ValueError('a stall has no stream (the member stops reading altogether); remove '
                         '"stream"')
    return StallFault()


def build(values: Mapping[str, int], stream: str) -> StallFault:
    """The stall (it takes no values)."""
    return StallFault()


def act(member: MemberActor, settings: Mapping[str, int]) -> None:
    """Stop reading until the stall is lifted (the member's receive loop pauses)."""
    member.stop_reading_until_lifted(NAME)


KIND = FaultKind(
    name=NAME,
    keys=(),
    parse=parse,
    summary="the slow member stops reading its socket (no reads, no pongs), then resumes",
    toxic_type=NAME,
    params=(),
    build=build,
    where=MEMBER,
    describe=lambda attributes: "stall (not reading)",
    act=act,
    # Backpressure reached (else ERROR), and cleared once lifted (harness.measure.stall_evidence).
    evidence=StallEvidence,
)
