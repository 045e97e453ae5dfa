"""``sweep.json``: the record of a sweep, written after every point and read back for pages.

Layout (``format_version`` 1)::

    {
      "format_version": 1, "kind": "sweep", "axis": "latency",
      "scenario": {"name", "source_path", "fault_s", "cooldown_s", "join_fast_p99_limit_ms"},
      "mode": "naive", "find": "floor" | "ceiling", "target_verdict": "FAIL" | "PASS",
      "range_ms": [LO, HI], "resolution_ms": R, "repeat": N, "max_runs": K,
      "monotonicity_assumed": true,
      "answer": {"status": "found" | "none_in_range" | "inconclusive" | "interrupted"
                           | "running",
                 "value_ms": int | null, "bracket_ms": [lower, upper] | null,
                 "message": "..."},
      "points": [{"latency_ms", "order", "outcome": "FAIL" | "PASS" | "MIXED" | "ERROR",
                  "verdicts": [...], "runs": [RunRecord.to_dict(), ...]}, ...],
      "runs_total": int, "wall_time_s": float, "started_utc": "..."
    }

Points are in latency order; ``order`` says in which order the search ran them. Each run's
folder is ``<sweep folder>/<runs[].run>/`` and holds its own ``result.json`` and
``report.html``. ``max_runs`` is the budget the search had (``--max-runs``, or its own worst
case).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.runfolder.atomic import write_text_atomically
from harness.sweep.axis import format_ms
from harness.sweep.points import OUTCOMES, Point, RunRecord

SWEEP_FILE_NAME = "sweep.json"
SWEEP_FORMAT_VERSION = 1


class SweepFileError(Exception):
    """``sweep.json`` is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class SweepView:
    """``sweep.json`` read back: what ``sweep.html`` and the terminal table show.

    Attributes:
        folder: The sweep folder.
        document: The whole document as read (for the fields shown verbatim).
        points: The points, in latency order.
    """

    folder: Path
    document: Mapping[str, Any]
    points: tuple[Point, ...]

    @property
    def answer(self) -> Mapping[str, Any]:
        value = self.document.get("answer")
        return value if isinstance(value, Mapping) else {}

    @property
    def scenario(self) -> Mapping[str, Any]:
        value = self.document.get("scenario")
        return value if isinstance(value, Mapping) else {}

    @property
    def run_end_after_fault_s(self) -> float | None:
        """Seconds from fault start to the planned end of a run (fault + cool-down)."""
        fault, cooldown = self.scenario.get("fault_s"), self.scenario.get("cooldown_s")
        if isinstance(fault, int | float) and isinstance(cooldown, int | float):
            return float(fault) + float(cooldown)
        return None


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_sweep_json(folder: Path, document: Mapping[str, Any]) -> Path:
    """Write ``folder/sweep.json`` atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SWEEP_FILE_NAME
    return write_text_atomically(path, json.dumps(document, indent=2) + "\n")


def load_sweep(folder: str | Path) -> SweepView:
    """Read ``folder/sweep.json``.

    Raises:
        SweepFileError: missing, not JSON, or its points are malformed (one line).
    """
    folder = Path(folder)
    path = folder / SWEEP_FILE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SweepFileError(f"{path}: cannot be read as JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != "sweep":
        raise SweepFileError(f"{path}: not a sweep record (needs \"kind\": \"sweep\")")
    points = []
    raw_points = document.get("points")
    if not isinstance(raw_points, list):
        raise SweepFileError(f"{path}: 'points' must be a JSON array")
    for index, raw in enumerate(raw_points):
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("runs"), list):
                raise ValueError("must be an object with a 'runs' array")
            latency, order = raw.get("latency_ms"), raw.get("order", index + 1)
            if not isinstance(latency, int) or isinstance(latency, bool):
                raise ValueError("latency_ms must be an integer")
            points.append(Point(latency, int(order),
                                tuple(RunRecord.from_dict(run) for run in raw["runs"])))
        except (ValueError, TypeError) as exc:
            raise SweepFileError(f"{path}: points[{index}]: {exc}") from None
    return SweepView(folder, document, tuple(sorted(points, key=lambda p: p.latency_ms)))


def format_table(view: SweepView) -> str:
    """The points as a terminal table, then the answer line."""
    header = (f"{'latency':>8}  {'outcome':<7} {'verdicts':<20} {'detected (s)':<18} "
              f"{'join[fast] p99 raw/corr (ms)':<30} lock reports")
    lines = [header]
    for point in view.points:
        assert point.outcome in OUTCOMES
        verdicts = " ".join(run.verdict for run in point.runs)
        detected = " ".join("-" if run.detection_s is None else f"{run.detection_s:g}"
                            for run in point.runs)
        figures = " ".join(f"{_ms(run.join_fast_p99_ms)}/{_ms(run.join_fast_p99_corrected_ms)}"
                           for run in point.runs)
        locks = " ".join(
            "+".join(f"{count} {kind}" for kind, count in run.lock_reports.items()) or "0"
            for run in point.runs)
        lines.append(f"{format_ms(point.latency_ms):>8}  {point.outcome:<7} {verdicts:<20} "
                     f"{detected:<18} {figures:<30} {locks}")
    lines.append(str(view.answer.get("message", "")))
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
