"""Time to verdict: the wall time of the ``make chaos`` matrix and how fast the bug shows.

Runs ``python -m harness matrix scenarios/slow-member.toml --quiet`` as a child
process, exactly as ``make chaos`` does, and times it. From the naive run's
``result.json`` and ``samples.jsonl`` it then takes, in seconds after
``timings.fault_started``:

* the first lock report (``lock_reports[].time``);
* the first fast join, and the first fast delivery, that completed over its
  threshold's limit (the limits of ``join[fast].p99`` and ``deliver[fast].p99``
  in the scenario's checks);
* the earliest of these: the first broken-threshold evidence;
* the early verdict, when the run stopped early: the first ``detected_at``
  found in ``result.json`` (the harness's ``abort_on_fail`` support).

The matrix runs twice, with and without early verdicts (``--no-early-verdict``);
the goal is that early verdicts make it at least 2 times faster (a ratio of at
most 0.5). ``--tiny`` runs only the naive mode of a shortened scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from harness.bench.result import BenchResult, Row
from harness.bench.short_scenario import short_slow_member
from harness.measure.measurements import Sample, read_samples_jsonl
from harness.runfolder import RunFolder
from harness.runfolder.record import RecordError, ResultRecord, load_record
from harness.target import PROJECT_ROOT

__all__ = ["detection", "run"]

SCENARIO = PROJECT_ROOT / "scenarios" / "slow-member.toml"
MATRIX_TIMEOUT_S = 600.0

TINY_SCENARIO = short_slow_member(
    "bench-tiny-slow-member",
    description="The slow-member case, cut short for the benchmark's self-test.",
    target="""
send_timeout = "10s"
lock_wait_threshold = "100ms"
lock_hold_threshold = "250ms"
""",
    cooldown="500ms",
    thresholds="""
min_samples = 5
checks = ["join[fast].p99 < 250ms", "lock_reports == 0"]
abort_on_fail = ["lock_reports == 0"]
""",
)


def _first_over(samples: Iterable[Sample], op: str, limit: float | None,
                since: float) -> float | None:
    if limit is None:
        return None
    times = [sample.time for sample in samples
             if sample.op == op and sample.member_kind == "fast" and sample.ok
             and sample.latency_ms > limit and sample.time >= since]
    return min(times) - since if times else None


def _duration(run_dir: Path) -> float | None:
    """Seconds of load of one run of the matrix (``timings.duration_s``), if it wrote one."""
    try:
        return round(load_record(run_dir).duration_s, 1)
    except RecordError:
        return None


def detection(result: ResultRecord, samples: list[Sample]) -> dict[str, float | None]:
    """Seconds from fault start to each kind of evidence in one run (``None``: never seen)."""
    fault = result.fault_started
    empty: dict[str, float | None] = {"lock_report_s": None, "join_over_limit_s": None,
                                      "deliver_over_limit_s": None, "first_evidence_s": None,
                                      "early_verdict_s": None}
    if fault is None:
        return empty
    limits = {check.subject: check.limit for check in result.checks}
    report_times = [float(report["time"]) for report in result.lock_reports
                    if isinstance(report.get("time"), int | float)
                    and float(report["time"]) >= fault]
    figures = dict(empty)
    figures["lock_report_s"] = min(report_times) - fault if report_times else None
    figures["join_over_limit_s"] = _first_over(samples, "join", limits.get("join[fast].p99"),
                                               fault)
    figures["deliver_over_limit_s"] = _first_over(samples, "deliver",
                                                  limits.get("deliver[fast].p99"), fault)
    seen = [value for value in figures.values() if value is not None]
    figures["first_evidence_s"] = min(seen) if seen else None
    detected_at = result.early_verdict.get("detected_at")
    if isinstance(detected_at, int | float):
        figures["early_verdict_s"] = float(detected_at) - fault
    return {key: None if value is None else round(value, 3) for key, value in figures.items()}


def _timed_matrix(command: list[str],
                  results_dir: Path) -> tuple[Path, float, subprocess.CompletedProcess[str]]:
    """Run one matrix; return its folder, its wall time and the finished process."""
    before = set(results_dir.glob("*-matrix-*"))
    started = time.monotonic()
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=MATRIX_TIMEOUT_S)
    wall = time.monotonic() - started
    new = sorted(set(results_dir.glob("*-matrix-*")) - before)
    if not new or not (new[-1] / "matrix.json").is_file():
        raise RuntimeError(f"the matrix wrote no matrix.json (exit {completed.returncode}): "
                           f"{completed.stderr.strip()[-300:]}")
    return new[-1], wall, completed


def run(tiny: bool = False, work_dir: Path | None = None) -> BenchResult:
    """Run the matrix once and measure; ``work_dir`` receives its result folders."""
    results_dir = (work_dir or PROJECT_ROOT / "results") / "bench-runs"
    results_dir.mkdir(parents=True, exist_ok=True)
    if tiny:
        scenario = results_dir / "bench-tiny-slow-member.toml"
        scenario.write_text(TINY_SCENARIO)
        expect = ["--expect", "naive=FAIL"]
    else:
        scenario, expect = SCENARIO, []
    command = [sys.executable, "-m", "harness", "matrix", str(scenario), "--quiet",
               "--results-dir", str(results_dir), *expect]
    result = BenchResult(
        "verdict",
        "wall time of the slow-member matrix, and seconds from fault start to evidence (naive)",
        params={"command": " ".join(["python", *command[1:]]), "scenario": str(scenario)},
    )
    matrix_dir, wall, completed = _timed_matrix(command, results_dir)
    result.details["exit_code"] = completed.returncode
    result.details["output"] = completed.stdout.strip().splitlines()[-4:]
    # The same matrix without early verdicts: the baseline of the speed-up goal.
    baseline_dir, baseline_wall, _ = _timed_matrix([*command, "--no-early-verdict"], results_dir)
    result.details["baseline_matrix_dir"] = str(baseline_dir)
    matrix = json.loads((matrix_dir / "matrix.json").read_text())
    result.details["matrix_dir"] = str(matrix_dir)
    result.details["runs"] = [{**{key: run.get(key) for key in ("mode", "verdict", "expected",
                                                                "held")},
                               "duration_s": _duration(matrix_dir / str(run.get("mode")))}
                              for run in matrix.get("runs", [])]
    result.rows.append(Row("matrix without early verdicts", baseline_wall, "s",
                           rounds=[round(baseline_wall, 1)]))
    result.rows.append(Row(
        "make chaos matrix wall time", wall, "s", rounds=[round(wall, 1)],
        baseline="same matrix, --no-early-verdict", baseline_value=baseline_wall,
        ratio=wall / baseline_wall,
    ).check("<= 0.5x", lambda ratio: ratio <= 0.5))
    if not matrix.get("all_held"):
        result.notes.append("an expectation of the matrix did not hold: "
                            + ", ".join(f"{run['mode']} {run['verdict']}"
                                        for run in result.details["runs"]))
    naive_folder = RunFolder(matrix_dir / "naive")
    if naive_folder.result.is_file():
        naive = load_record(naive_folder.path)
        samples = (read_samples_jsonl(naive_folder.samples) if naive_folder.samples.is_file()
                   else [])
        figures = detection(naive, samples)
        result.details["naive"] = {"verdict": naive.status, "duration_s": naive.duration_s,
                                   **figures}
        names = {"first_evidence_s": "naive: first evidence",
                 "lock_report_s": "naive: first lock report",
                 "join_over_limit_s": "naive: first fast join over limit",
                 "deliver_over_limit_s": "naive: first fast delivery over limit",
                 "early_verdict_s": "naive: early verdict"}
        for key, label in names.items():
            value = figures[key]
            if value is not None or key != "early_verdict_s":
                result.rows.append(Row(f"{label}, after fault start", value, "s",
                                       rounds=[] if value is None else [value]))
        if figures["early_verdict_s"] is None:
            result.notes.append("no early verdict in result.json: the naive run lasted its full "
                                "scenario time")
    return result
