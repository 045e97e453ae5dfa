"""Fault kinds a scenario can inject, each a small module registered in :data:`FAULT_KINDS`.

To add a fault kind: write ``harness/faults/<name>.py`` exposing ``KIND = FaultKind(...)`` (see
:mod:`harness.faults.base` and :mod:`harness.faults.latency`), then add it to the tuple below.
"""

from __future__ import annotations

from harness.faults import bandwidth, latency, slicer
from harness.faults.base import (
    COMMON_KEYS,
    DOWNSTREAM,
    MEMBER,
    PROXY,
    STREAMS,
    UPSTREAM,
    Fault,
    FaultKind,
    Param,
    ToxicSpec,
)

FAULT_KINDS: dict[str, FaultKind] = {kind.name: kind for kind in (
    latency.KIND,
    bandwidth.KIND,
    slicer.KIND,
)}
"""Every known fault kind, by the ``kind`` value that selects it in a scenario."""

__all__ = [
    "COMMON_KEYS",
    "DOWNSTREAM",
    "FAULT_KINDS",
    "STREAMS",
    "UPSTREAM",
    "Fault",
    "FaultKind",
    "MEMBER",
    "PROXY",
    "Param",
    "ToxicSpec",
]
