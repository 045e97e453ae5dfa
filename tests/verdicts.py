"""Verdicts the tests need and no run makes directly."""

from __future__ import annotations

from harness.verdict import Verdict


def error_verdict(cause: str) -> Verdict:
    """What the harness judges when a run never started: ERROR naming the cause."""
    return Verdict(status="ERROR", message=f"ERROR: {cause}", component_errors=(cause,))
