"""Fault kinds a scenario can inject, each a small module registered in :data:`FAULT_KINDS`.

To add a fault kind, one file plus one line:

1. write ``harness/faults/<name>.py`` exposing ``KIND = FaultKind(...)`` (see
   :mod:`harness.faults.base` for the interface and :mod:`harness.faults.slicer` for a whole
   example): the toxic it applies, where (``PROXY``, or ``MEMBER`` for a fault the member acts
   out, like :mod:`harness.faults.stall`; such a kind also says how the member acts it out,
   ``act``, and may judge what the members reported, ``evidence``), its ``[[faults]]`` keys
   and ``parse``, and the ``params`` a UI edits with ``build``;
2. import the module and add its line ``<name>.KIND,`` to :data:`FAULT_KINDS` below.

Nothing else changes: scenarios accept ``kind = "<name>"``, the nemesis
(:mod:`harness.faults.nemesis`) puts its toxic on every slow member's proxy for the fault phase
(or sends a member fault to the slow members, who call its ``act``), and the web
UI's Chaos page gets Set/Clear controls for it
(they are built from :meth:`FaultKind.to_dict`, served at ``GET /chaos/faults``). Document its
keys in ``scenarios/README.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.faults import bandwidth, latency, reconnect, slicer, stall
from harness.faults.base import (
    COMMON_KEYS,
    DOWNSTREAM,
    MEMBER,
    PROXY,
    STREAMS,
    UPSTREAM,
    Fault,
    FaultCheck,
    FaultKind,
    MemberActor,
    MemberEvidence,
    Param,
    ToxicSpec,
)

FAULT_KINDS: dict[str, FaultKind] = {kind.name: kind for kind in (
    latency.KIND,
    bandwidth.KIND,
    slicer.KIND,
    stall.KIND,
    reconnect.KIND,
)}
"""Every known fault kind, by the ``kind`` value that selects it in a scenario."""


def member_kinds(names: Iterable[str]) -> tuple[FaultKind, ...]:
    """The member fault kinds (:data:`MEMBER`) among the fault kind ``names`` of a scenario or
    of its record (``result.json`` ``scenario.faults``), each once, in order. A name with no
    registered kind (a record of an older harness) is left out.

    The live run and a judgement again from the record both take their member faults from
    here, so they read the same evidence (:mod:`harness.runfolder.recorded`).
    """
    kinds = (FAULT_KINDS.get(name) for name in names)
    return tuple(dict.fromkeys(kind for kind in kinds
                               if kind is not None and kind.where == MEMBER))

__all__ = [
    "COMMON_KEYS",
    "DOWNSTREAM",
    "FAULT_KINDS",
    "STREAMS",
    "UPSTREAM",
    "Fault",
    "FaultCheck",
    "FaultKind",
    "MEMBER",
    "MemberActor",
    "MemberEvidence",
    "PROXY",
    "Param",
    "ToxicSpec",
    "member_kinds",
]
