"""What a sweep records: one :class:`RunRecord` per run, one :class:`Point` per latency.

A run's record is read back from its ``result.json`` (never from the live run), so a sweep
records exactly what the run's own report shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results import RESULT_FILE_NAME

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
    """Read ``run_dir/result.json`` into a record.

    A missing or unreadable file makes an ERROR record that says so: a run without a result
    is not evidence either way.
    """
    path = run_dir / RESULT_FILE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return RunRecord(run=run_dir.name, verdict="ERROR",
                         message=f"ERROR: {path} unreadable: {exc}")
    return record_from_document(run_dir.name, document)


def record_from_document(run: str, document: Mapping[str, Any]) -> RunRecord:
    """The record of one run from its ``result.json`` document (see :class:`RunRecord`)."""
    verdict = _get(document, "verdict")
    status = verdict.get("status")
    measured = _get(document, "measured")
    kinds: dict[str, int] = {}
    for report in document.get("lock_reports") or []:
        if isinstance(report, Mapping):
            kind = str(report.get("kind", "unknown"))
            kinds[kind] = kinds.get(kind, 0) + 1
    return RunRecord(
        run=run,
        verdict=str(status) if status in VERDICTS else "ERROR",
        message=str(verdict.get("message", "")),
        detection_s=_number(_get(_get(document, "extra"), "early_verdict").get("after_fault_s")),
        join_fast_p99_ms=_number(_join_fast_p99(measured.get("latency_ms"))),
        join_fast_p99_corrected_ms=_number(_join_fast_p99(measured.get("latency_ms_corrected"))),
        lock_reports=dict(sorted(kinds.items())),
        duration_s=_number(_get(document, "timings").get("duration_s")),
    )


def _join_fast_p99(table: Any) -> Any:
    if not isinstance(table, Mapping):
        return None
    return _get(_get(table, "join"), "fast").get("p99_ms")


def _get(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
