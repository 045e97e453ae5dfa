"""Running a sweep for real: each point's runs through
:func:`harness.headless.one_run.run_scenario`.

The sweep folder holds one run folder per run (``<latency>-<k>``, e.g. ``300ms-2``), each
with its own ``result.json`` and ``report.html``; ``sweep.json`` is rewritten after every run
(so an interrupted sweep keeps its record) and ``sweep.html`` is drawn from it at the end.
Each finished run prints one progress line: runs done of at most how many, and the time left
(:mod:`harness.reports.batch_progress`).
Runs append their history line to the sweep folder's own ``history.jsonl``, not to the
results dir's: their latencies differ from the scenario's, and ``trend`` must not compare
them with ordinary runs.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.headless.one_run import run_scenario
from harness.pages import PageError
from harness.pages.sweep_page import write_sweep_page
from harness.reports.batch_progress import BatchProgress
from harness.rig.rig import signals_raise
from harness.run import RunOptions
from harness.scenario import Scenario
from harness.sweep.axis import format_ms
from harness.sweep.document import (
    SWEEP_FORMAT_VERSION,
    SweepFileError,
    format_table,
    load_sweep,
    utc_now,
    write_sweep_json,
)
from harness.sweep.points import Point, RunRecord, record_from_result
from harness.sweep.search import RunOnce, SweepInterrupted, SweepPlan, SweepResult, search

SWEEP_HTML_NOT_WRITTEN = "harness: sweep.html not written"
JOIN_LIMIT_SUBJECT = "join[fast].p99"


def real_runner(template: RunOptions) -> RunOnce:
    """A :data:`RunOnce` that runs ``template`` with the point's scenario as run ``name``.

    The record is read back from the run's ``result.json``; a run stopped by a signal raises
    :class:`SweepInterrupted` carrying it.
    """

    def run_once(scenario: Scenario, name: str) -> RunRecord:
        outcome = run_scenario(replace(template, scenario=scenario, run_id=name))
        record = record_from_result(outcome.run_dir)
        signum = outcome.extra.get("interrupted_by")
        if signum:
            raise SweepInterrupted(int(signum), record)
        return record

    return run_once


def sweep_document(result: SweepResult, started_utc: str) -> dict[str, Any]:
    """The ``sweep.json`` document of ``result`` (answer ``running`` while it has none)."""
    plan = result.plan
    scenario = plan.scenario
    limit = next((check.limit for check in scenario.thresholds.checks
                  if check.subject == JOIN_LIMIT_SUBJECT), None)
    answer = result.answer
    return {
        "format_version": SWEEP_FORMAT_VERSION,
        "kind": "sweep",
        "axis": "latency",
        "scenario": {"name": scenario.name, "source_path": str(scenario.source_path),
                     "fault_s": scenario.timing.fault_s,
                     "cooldown_s": scenario.timing.cooldown_s,
                     "join_fast_p99_limit_ms": limit},
        "mode": plan.mode,
        "find": plan.find,
        "target_verdict": plan.target_verdict,
        "range_ms": [plan.low_ms, plan.high_ms],
        "resolution_ms": plan.resolution_ms,
        "repeat": plan.repeat,
        "max_runs": plan.run_budget,
        "monotonicity_assumed": True,
        "answer": {
            "status": answer.status if answer else "running",
            "value_ms": answer.value_ms if answer else None,
            "bracket_ms": list(answer.bracket_ms) if answer and answer.bracket_ms else None,
            "message": answer.message if answer else "the sweep is still running",
        },
        "points": [point.to_dict() for point in result.points],
        "runs_total": result.runs_total,
        "wall_time_s": result.wall_time_s,
        "started_utc": started_utc,
    }


def announce(plan: SweepPlan, folder: Path) -> str:
    """The line printed before the first run: what is sought, and the bound on runs."""
    sought = ("smallest latency at which it FAILs" if plan.find == "floor"
              else "largest latency at which it PASSes")
    return (f"sweep: {plan.mode}, {plan.find} ({sought} {plan.repeat}/{plan.repeat}) in "
            f"{format_ms(plan.low_ms)}..{format_ms(plan.high_ms)}, resolution "
            f"{format_ms(plan.resolution_ms)}: at most {plan.run_budget} runs of "
            f"{plan.scenario.timing.total_s:g} s of load each; results: {folder}")


def run_line(point: Point, repeat: int) -> str:
    """What a finished run found (the point's last run), for its progress line."""
    record = point.runs[-1]
    return (f"{format_ms(point.latency_ms)} run {len(point.runs)}/{repeat}: "
            f"{record.verdict:<5} {record.message}")


def run_sweep(plan: SweepPlan, folder: Path, run_once: RunOnce) -> SweepResult:
    """Search ``plan`` with ``run_once``, keeping ``folder/sweep.json`` up to date; then draw
    ``sweep.html`` and print the table and the answer.

    SIGINT, SIGTERM and SIGHUP between runs stop the sweep like one inside a run: the answer
    is ``interrupted`` and nothing else is started.
    """
    started_utc = utc_now()
    print(announce(plan, folder), flush=True)
    # The bisection may stop before its budget of runs: "at most".
    progress = BatchProgress("sweep", plan.run_budget, at_most=True)

    def after_run(result: SweepResult, point: Point) -> None:
        progress.run_finished(run_line(point, plan.repeat))
        write_sweep_json(folder, sweep_document(result, started_utc))

    with signals_raise():
        result = search(plan, run_once, after_run)
    write_sweep_json(folder, sweep_document(result, started_utc))
    try:
        write_sweep_page(folder)
    except (PageError, SweepFileError) as exc:
        print(f"{SWEEP_HTML_NOT_WRITTEN}: {exc}", file=sys.stderr)
    print(format_table(load_sweep(folder)), flush=True)
    print(f"sweep: {result.runs_total} runs in {result.wall_time_s:.0f} s; results: {folder}",
          flush=True)
    return result
