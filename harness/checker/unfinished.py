"""Operations that never finished, said in words: "7 joins never finished; the oldest waited
6.9 s".

At the end of a run every operation still in flight is an ``unfinished`` sample (its age as
``latency_ms``, :mod:`harness.loadgen.history`). The verdict's message, and so the console,
result.json, the report, the matrix page and JUnit, name them with :func:`describe_unfinished`;
result.json also lists them per op and member kind (:func:`unfinished_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.measure.measurements import OPS, Sample

__all__ = ["describe_unfinished", "unfinished_summary"]

_PLURALS = {"deliver": "deliveries owed", "connect": "connects", "join": "joins",
            "broadcast": "broadcasts", "leave": "leaves"}
_SINGULARS = {"deliver": "delivery owed", "connect": "connect", "join": "join",
              "broadcast": "broadcast", "leave": "leave"}


def unfinished_summary(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Per op and member kind: how many never finished and the oldest one's age (s)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for sample in samples:
        if sample.unfinished:
            groups.setdefault((sample.op, sample.member_kind), []).append(sample.latency_ms)
    order = {op: index for index, op in enumerate(OPS)}
    return [{"op": op, "member_kind": kind, "count": len(ages),
             "oldest_s": round(max(ages) / 1000, 3)}
            for (op, kind), ages in sorted(groups.items(),
                                           key=lambda item: (order.get(item[0][0], 99),
                                                             item[0][1]))]


def describe_unfinished(samples: Iterable[Sample]) -> str:
    """``"7 joins never finished; the oldest waited 6.9 s; 1 broadcast never finished; ..."``
    per op over every member kind, or "" when every operation finished."""
    per_op: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for entry in unfinished_summary(samples):
        per_op.setdefault(entry["op"], []).append(entry["oldest_s"])
        counts[entry["op"]] = counts.get(entry["op"], 0) + entry["count"]
    parts = []
    for op, oldest in per_op.items():
        count = counts[op]
        name = (_PLURALS if count != 1 else _SINGULARS).get(op, op)
        waited = "the oldest waited" if count != 1 else "it waited"
        parts.append(f"{count} {name} never finished; {waited} {max(oldest):.1f} s")
    return "; ".join(parts)
