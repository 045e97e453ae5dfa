"""What a sweep records: one :class:`RunRecord` per run, one :class:`Point` per latency.

A run's record is read back from its ``result.json`` (never from the live run), so a sweep
records exactly what the run's own report shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runfolder.record import RecordError, ResultRecord, load_record
from harness.runfolder.record import record_from_document as read_document

VERDICTS = ("PASS", "FAIL", "ERROR")
#: Outcomes of a point: every run FAILed, every run PASSed, both (no ERROR), or any ERROR.
OUTCOMES = ("FAIL", "PASS", "MIXED", "ERROR")


@dataclass(frozen=True)
class RunRecord:
    """The figures of one run of a sweep point.

    Attributes:
        run: The run folder's name inside the sweep folder (e.g. ``"300ms-1"``).
        verdict: ``PASS``, ``FAIL`` or ``ERROR``.
        message: The verdict's one-line message.
        detection_s: Seconds from fault start to the early verdict
            (``extra.early_verdict.after_fault_s``), None when the run did not stop early.
        join_fast_p99_ms: ``measured.latency_ms.join.fast.p99_ms`` (raw), None if unmeasured.
        join_fast_p99_corrected_ms: The same, corrected for coordinated omission.
        lock_reports: Lock report counts by kind (``wait``, ``hold``, ...).
        duration_s: Seconds of load (``timings.duration_s``).
    """

    run: str
    verdict: str
    message: str
    detection_s: float | None = None
    join_fast_p99_ms: float | None = None
    join_fast_p99_corrected_ms: float | None = None
    lock_reports: Mapping[str, int] = field(default_factory=dict)
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as it appears in ``sweep.json``."""
        return {
            "run": self.run, "verdict": self.verdict, "message": self.message,
            "detection_s": self.detection_s, "join_fast_p99_ms": self.join_fast_p99_ms,
            "join_fast_p99_corrected_ms": self.join_fast_p99_corrected_ms,
            "lock_reports": dict(self.lock_reports), "duration_s": self.duration_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """The inverse of :meth:`to_dict` (for rebuilding ``sweep.html``); lenient on figures.

        Raises:
            ValueError: ``run`` is not a string or ``verdict`` is not PASS/FAIL/ERROR.
        """
        verdict = data.get("verdict")
        if not isinstance(data.get("run"), str) or verdict not in VERDICTS:
            raise ValueError("each run needs a 'run' name and a 'verdict' PASS/FAIL/ERROR")
        kinds = data.get("lock_reports")
        return cls(
            run=str(data["run"]), verdict=str(verdict), message=str(data.get("message", "")),
            detection_s=_number(data.get("detection_s")),
            join_fast_p99_ms=_number(data.get("join_fast_p99_ms")),
            join_fast_p99_corrected_ms=_number(data.get("join_fast_p99_corrected_ms")),
            lock_reports={str(kind): int(count) for kind, count in kinds.items()
                          if _number(count) is not None} if isinstance(kinds, dict) else {},
            duration_s=_number(data.get("duration_s")),
        )


@dataclass(frozen=True)
class Point:
    """One latency of the sweep and its runs.

    Attributes:
        latency_ms: The injected latency (jitter 0) on every slow member's link.
        order: 1 for the first point the search ran, 2 for the next, ...
        runs: The records of its runs, in run order.
    """

    latency_ms: int
    order: int
    runs: tuple[RunRecord, ...]

    @property
    def outcome(self) -> str:
        """``ERROR`` when any run broke (inconclusive), else ``FAIL``/``PASS`` when every run
        agrees, else ``MIXED``."""
        verdicts = {run.verdict for run in self.runs}
        if "ERROR" in verdicts or not verdicts:
            return "ERROR"
        return verdicts.pop() if len(verdicts) == 1 else "MIXED"

    def to_dict(self) -> dict[str, Any]:
        """The point as it appears in ``sweep.json``."""
        return {"latency_ms": self.latency_ms, "order": self.order, "outcome": self.outcome,
                "verdicts": [run.verdict for run in self.runs],
                "runs": [run.to_dict() for run in self.runs]}


def record_from_result(run_dir: Path) -> RunRecord:
    """Read ``run_dir/result.json`` (its typed record) into a sweep's record.

    A missing, unreadable or malformed file makes an ERROR record that says so: a run
    without a result is not evidence either way.
    """
    try:
        return run_record(load_record(run_dir))
    except RecordError as exc:
        return RunRecord(run=run_dir.name, verdict="ERROR", message=f"ERROR: unreadable: {exc}")


def record_from_document(run: str, document: Mapping[str, Any]) -> RunRecord:
    """The record of one run from its decoded ``result.json`` document (see
    :func:`record_from_result`)."""
    try:
        return run_record(read_document(Path(run), document))
    except RecordError as exc:
        return RunRecord(run=run, verdict="ERROR", message=f"ERROR: unreadable: {exc}")


def run_record(result: ResultRecord) -> RunRecord:
    """The figures a sweep keeps of one run (see :class:`RunRecord`)."""
    kinds: dict[str, int] = {}
    for report in result.lock_reports:
        kind = str(report.get("kind", "unknown"))
        kinds[kind] = kinds.get(kind, 0) + 1
    return RunRecord(
        run=result.run_dir.name,
        verdict=result.status,
        message=result.message,
        detection_s=_number(result.early_verdict.get("after_fault_s")),
        join_fast_p99_ms=result.latency_stat("join", "fast", "p99_ms"),
        join_fast_p99_corrected_ms=result.latency_stat("join", "fast", "p99_ms", corrected=True),
        lock_reports=dict(sorted(kinds.items())),
        duration_s=result.duration_s,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
