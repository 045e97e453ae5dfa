"""Verdicts the tests need and no run makes directly, and the samples they judge."""

from __future__ import annotations

from harness.checker.verdict import Verdict
from harness.measure.measurements import Sample


def error_verdict(cause: str) -> Verdict:
    """What the harness judges when a run never started: ERROR naming the cause."""
    return Verdict(status="ERROR", message=f"ERROR: {cause}", component_errors=(cause,))


def samples(
    op: str, member_kind: str, latency_ms: float, count: int, ok: bool = True
) -> list[Sample]:
    """``count`` samples of ``op`` by ``member_kind`` members, one a second from t = 1000 s."""
    return [Sample(1000.0 + i, op, member_kind, latency_ms, ok) for i in range(count)]
