"""Run history (``history.jsonl``) and the trend of key figures across runs.

Every run appends one JSON line to ``<results dir>/history.jsonl``: date, mode, label,
scenario, verdict and key figures (join[fast] p99, lock report count), plus the run folder
relative to the results dir. The label is the run's ``--label`` (``[target] label``), else its
mode: it tells apart servers of the user's own, whose mode is always ``external``.
``python -m harness trend`` prints the last runs per label and marks a **regression**: a
``fixed``-mode run whose join[fast] p99 is more than 50% worse than the median of the (up to)
10 ``fixed`` runs of the same scenario and label before it.

Like is compared with like: the figure is the one the verdict judges (corrected for
coordinated omission when the run recorded it, raw otherwise), and only runs measured on the
same basis form a baseline. Runs with an ERROR verdict are shown but neither flagged nor used
as baseline (their figures are not trustworthy), and a baseline needs at least
:data:`MIN_BASELINE_RUNS` runs.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runfolder.record import ResultRecord, load_record
from harness.target import MODES

HISTORY_FILE_NAME = "history.jsonl"
REGRESSION_MODE = "fixed"
#: A run regresses when its figure exceeds this factor times the baseline median.
REGRESSION_FACTOR = 1.5
#: The baseline is the median of at most this many earlier comparable runs.
BASELINE_RUNS = 10
#: Fewer comparable earlier runs than this: no baseline, no verdict on regression.
MIN_BASELINE_RUNS = 3
MODE_ORDER = MODES


class HistoryError(Exception):
    """The history cannot be read (e.g. the results dir does not exist); one line."""


def history_entry(result: ResultRecord, results_dir: Path) -> dict[str, Any]:
    """The history line of one run, from the typed record of its ``result.json``.

    Keys: ``date`` (UTC, ISO 8601), ``mode``, ``label`` (``extra.label``, else the mode),
    ``scenario``, ``verdict``,
    ``join_fast_p99_ms`` (the figure judged), ``join_fast_p99_basis`` (``corrected`` or
    ``raw``), ``join_fast_p99_raw_ms``, ``join_fast_p99_corrected_ms``, ``lock_reports``,
    ``samples``, ``duration_s``, ``run_dir`` (relative to ``results_dir`` when inside it).
    Figures not measured are None.
    """
    raw = result.latency_stat("join", "fast", "p99_ms")
    corrected = result.latency_stat("join", "fast", "p99_ms", corrected=True)
    try:
        relative_dir = str(result.run_dir.resolve().relative_to(results_dir.resolve()))
    except ValueError:
        relative_dir = str(result.run_dir)
    return {
        "date": result.started_utc or None,
        "mode": result.mode,
        "label": result.label,
        "scenario": result.scenario_name,
        "verdict": result.status,
        "join_fast_p99_ms": corrected if corrected is not None else raw,
        "join_fast_p99_basis": "corrected" if corrected is not None else "raw",
        "join_fast_p99_raw_ms": raw,
        "join_fast_p99_corrected_ms": corrected,
        "lock_reports": result.lock_report_count,
        "samples": result.sample_count,
        "duration_s": result.duration_s,
        "run_dir": relative_dir,
    }


def append_history(results_dir: str | Path, run_dir: str | Path) -> Path:
    """Append the history line of the run in ``run_dir`` (read from its ``result.json``).

    One ``write`` of one line in append mode, so concurrent runs do not interleave lines.

    Raises:
        OSError: the history cannot be written.
        RecordError: the run's ``result.json`` is missing or malformed.
    """
    results_dir = Path(results_dir)
    line = json.dumps(history_entry(load_record(run_dir), results_dir), allow_nan=False)
    path = results_dir / HISTORY_FILE_NAME
    with open(path, "a", encoding="utf-8") as history:
        history.write(line + "\n")
    return path


@dataclass(frozen=True)
class History:
    """The readable lines of a history file, in file (= run) order.

    Attributes:
        entries: One dict per well-formed line.
        skipped: How many lines were not JSON objects and were skipped.
    """

    entries: list[dict[str, Any]]
    skipped: int = 0


def read_history(path: str | Path) -> History:
    """Read ``history.jsonl``; a missing file is an empty history.

    Raises:
        OSError: the file exists but cannot be read.
    """
    path = Path(path)
    if not path.exists():
        return History([])
    entries: list[dict[str, Any]] = []
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(entry, dict):
                entries.append(entry)
            else:
                skipped += 1
    return History(entries, skipped)


@dataclass(frozen=True)
class Regression:
    """How a run compares with its baseline.

    Attributes:
        value_ms: The run's join[fast] p99.
        baseline_ms: Median join[fast] p99 of the baseline runs.
        baseline_runs: How many runs the median is over.
    """

    value_ms: float
    baseline_ms: float
    baseline_runs: int

    @property
    def is_regression(self) -> bool:
        return self.value_ms > REGRESSION_FACTOR * self.baseline_ms

    @property
    def change_percent(self) -> float:
        return (self.value_ms / self.baseline_ms - 1) * 100 if self.baseline_ms else 0.0


def compare_with_baseline(entries: Sequence[Mapping[str, Any]], index: int) -> Regression | None:
    """Compare ``entries[index]`` with the runs before it; None when it cannot be judged.

    It can be judged when it is a ``fixed`` run with a join[fast] p99 and a verdict other than
    ERROR, and at least :data:`MIN_BASELINE_RUNS` earlier such runs of the same scenario and
    label were measured on the same basis (the last :data:`BASELINE_RUNS` of them form the
    baseline).
    """
    entry = entries[index]
    if not _comparable(entry):
        return None
    baseline = [
        float(earlier["join_fast_p99_ms"]) for earlier in entries[:index]
        if _comparable(earlier)
        and earlier.get("scenario") == entry.get("scenario")
        and run_label(earlier) == run_label(entry)
        and earlier.get("join_fast_p99_basis") == entry.get("join_fast_p99_basis")
    ][-BASELINE_RUNS:]
    if len(baseline) < MIN_BASELINE_RUNS:
        return None
    return Regression(float(entry["join_fast_p99_ms"]), statistics.median(baseline),
                      len(baseline))


def newest_fixed_regression(entries: Sequence[Mapping[str, Any]]) -> Regression | None:
    """The comparison of the newest ``fixed`` run, if it is a regression; else None."""
    for index in range(len(entries) - 1, -1, -1):
        if entries[index].get("mode") == REGRESSION_MODE:
            comparison = compare_with_baseline(entries, index)
            return comparison if comparison is not None and comparison.is_regression else None
    return None


def run_label(entry: Mapping[str, Any]) -> str:
    """What trend groups a history line by: its ``label``, else (older lines) its mode."""
    return str(entry.get("label") or entry.get("mode"))


def format_trend(history: History, last: int, source: str = "") -> str:
    """The last ``last`` runs of each label (:func:`run_label`) as text tables, regressions
    marked.

    Labels appear as naive, spawn, fixed, then any other; a final line says whether the
    newest fixed run is a regression.
    """
    entries = history.entries
    lines = [f"history: {source or HISTORY_FILE_NAME} ({len(entries)} runs"
             + (f", {history.skipped} malformed lines skipped" if history.skipped else "")
             + f"; the last {last} per label)"]
    labels = [label for label in MODE_ORDER if any(run_label(e) == label for e in entries)]
    labels += sorted({run_label(e) for e in entries} - set(MODE_ORDER))
    header = ("date (UTC)", "scenario", "verdict", "join[fast] p99", "lock reports", "run")
    for label in labels:
        indices = [i for i, entry in enumerate(entries) if run_label(entry) == label]
        judged = any(entries[index].get("mode") == REGRESSION_MODE for index in indices)
        rows = []
        for index in indices[-last:] if last > 0 else []:
            entry = entries[index]
            comparison = compare_with_baseline(entries, index)
            rows.append((
                str(entry.get("date") or "?").replace("T", " ")[:19],
                str(entry.get("scenario")),
                str(entry.get("verdict")),
                _figure_text(entry),
                str(entry.get("lock_reports", "n/a")),
                str(entry.get("run_dir", "")),
                *([_mark(comparison)] if judged else []),
            ))
        runs = f"{len(indices)} run" + ("" if len(indices) == 1 else "s")
        columns = (*header, "vs earlier fixed runs") if judged else header
        lines += ["", f"{label} ({runs})", *_aligned(columns, rows)]
    lines += ["", _newest_fixed_line(entries)]
    return "\n".join(lines)


def trend(results_dir: str | Path, last: int = 10) -> tuple[str, int]:
    """The trend text of ``results_dir/history.jsonl`` and the exit code.

    Exit code 1 when the newest fixed run is a regression, else 0.

    Raises:
        HistoryError: ``results_dir`` is not a directory, or the history cannot be read.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise HistoryError(f"{results_dir}: no such results directory")
    path = results_dir / HISTORY_FILE_NAME
    try:
        history = read_history(path)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot be read: {exc}") from None
    if not history.entries:
        return f"no runs recorded yet in {path}", 0
    code = 1 if newest_fixed_regression(history.entries) is not None else 0
    return format_trend(history, last, str(path)), code


def _newest_fixed_line(entries: Sequence[Mapping[str, Any]]) -> str:
    fixed = [index for index, entry in enumerate(entries) if entry.get("mode") == REGRESSION_MODE]
    if not fixed:
        return "no fixed run recorded yet"
    comparison = compare_with_baseline(entries, fixed[-1])
    if comparison is None:
        return (f"newest fixed run: not judged (it needs a join[fast] p99, a verdict other than "
                f"ERROR and {MIN_BASELINE_RUNS} earlier comparable fixed runs)")
    if comparison.is_regression:
        return (f"newest fixed run: REGRESSION: join[fast] p99 {comparison.value_ms:.1f} ms is "
                f"more than {REGRESSION_FACTOR:g} x the median {comparison.baseline_ms:.1f} ms "
                f"of the {comparison.baseline_runs} fixed runs before it")
    return "newest fixed run: no regression"


def _comparable(entry: Mapping[str, Any]) -> bool:
    value = entry.get("join_fast_p99_ms")
    return (entry.get("mode") == REGRESSION_MODE and entry.get("verdict") != "ERROR"
            and isinstance(value, int | float) and not isinstance(value, bool) and value >= 0)


def _mark(comparison: Regression | None) -> str:
    if comparison is None:
        return ""
    text = (f"{comparison.change_percent:+.0f}% vs median {comparison.baseline_ms:.1f} ms "
            f"of {comparison.baseline_runs} runs before")
    return f"REGRESSION {text}" if comparison.is_regression else text


def _figure_text(entry: Mapping[str, Any]) -> str:
    value = entry.get("join_fast_p99_ms")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    basis = entry.get("join_fast_p99_basis")
    return f"{value:.1f} ms" + (" (raw)" if basis == "raw" else "")


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        return ("  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths,
                                                                         strict=True))).rstrip()

    return [render(header), *(render(row) for row in rows)]

