"""Town hall: one room of 1,000 members, one of them slow; naive against fixed.

Runs ``scenarios/town-hall.toml`` (one room, fan-out 999 per broadcast, a 500 ms latency toxic on
the slow member's link during the fault) with the harness itself
(:func:`harness.headless.one_run.run_scenario`), once per mode: ``fixed`` must keep the fast
members' join p99 under 250 ms and PASS, ``naive`` must FAIL. Each run's join p99 is taken from its
samples over the fault (the part of the run the question is about), with the deliveries a second and
the CPU each process used over it (:mod:`.cpu_split`). ``tiny``: the same scenario with 20 members,
short phases (the figures mean nothing).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from harness.bench.cpu_split import CpuSplit, sampling
from harness.bench.procs import harness_run
from harness.bench.result import BenchResult, Row
from harness.run import RunOptions
from harness.scenario import Scenario, load_scenario
from harness.target import PROJECT_ROOT
from harness.thresholds.latency import nearest_rank_percentile

__all__ = ["SCENARIO_PATH", "measure", "run"]

SCENARIO_PATH = PROJECT_ROOT / "scenarios" / "town-hall.toml"
LIMIT_MS = 250.0
#: The verdict each mode must give, in the order run.
EXPECTED = {"fixed": "PASS", "naive": "FAIL"}


def _tiny(scenario: Scenario) -> Scenario:
    load = dataclasses.replace(scenario.load, members=20, spawn_rate=20.0,
                               broadcast_interval_s=2.0, stay_s=2.0, away_s=0.2)
    timing = dataclasses.replace(scenario.timing, warmup_s=4.0, fault_s=4.0, cooldown_s=1.0)
    return dataclasses.replace(scenario, load=load, timing=timing)


def measure(scenario: Scenario, mode: str, runs_dir: Path) -> dict[str, Any]:
    """Run ``scenario`` in ``mode``; its verdict and its figures over the fault."""
    started = time.monotonic()
    with sampling(CpuSplit()) as split:
        outcome = harness_run(RunOptions(scenario=scenario, mode=mode, results_dir=runs_dir,
                                          run_id=f"town-hall-{mode}", progress=False))
    measured = outcome.measurements
    fault_start = measured.run_started + scenario.timing.warmup_s
    fault_end = min(measured.run_ended, fault_start + scenario.timing.fault_s)
    inside = [sample for sample in measured.samples if fault_start <= sample.time <= fault_end]
    joins = sorted(sample.latency_ms for sample in inside
                   if sample.op == "join" and sample.member_kind == "fast" and sample.ok)
    delivered = sum(1 for sample in inside if sample.op == "deliver" and sample.ok)
    span = max(fault_end - fault_start, 1e-9)
    return {"mode": mode, "verdict": outcome.verdict.status,
            "message": outcome.verdict.message,
            "expected": EXPECTED[mode],
            "join_p99_ms": nearest_rank_percentile(joins, 99) if joins else None,
            "joins": len(joins), "deliveries_per_s": round(delivered / span),
            "fault_s": round(span, 1), "lock_reports": len(measured.lock_reports),
            "cpu_cores": split.cores(fault_start, fault_end),
            "waited_for_core": split.waited(fault_start, fault_end),
            "others_cores": split.others(fault_start, fault_end),
            "seconds": round(time.monotonic() - started, 1), "run_dir": str(outcome.run_dir)}


def run(tiny: bool = False, work_dir: Path | None = None) -> BenchResult:
    """Run the town hall in ``fixed`` and ``naive`` mode; rows say whether each verdict is
    the expected one and what the fast members' join p99 was over the fault."""
    scenario = load_scenario(SCENARIO_PATH)
    if tiny:
        scenario = _tiny(scenario)
    runs_dir = (work_dir or PROJECT_ROOT / "results") / "bench-runs" / time.strftime(
        "town-hall-%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    load = scenario.load
    result = BenchResult(
        "townhall",
        f"one room of {load.members:,} (fan-out {load.members - 1:,}), one member slow: fixed "
        f"keeps join p99 < {LIMIT_MS:g} ms and PASSes, naive FAILs",
        params={"scenario": str(SCENARIO_PATH), "members": load.members,
                "broadcast_interval_s": load.broadcast_interval_s, "stay_s": load.stay_s,
                "fault_s": scenario.timing.fault_s, "runs_dir": str(runs_dir)})
    runs = [measure(scenario, mode, runs_dir) for mode in EXPECTED]
    result.details["runs"] = runs
    for figures in runs:
        mode = figures["mode"]
        row = Row(f"{mode}: join[fast] p99 over the fault ({figures['verdict']}, "
                  f"{figures['deliveries_per_s']:,} deliveries/s)", figures["join_p99_ms"], "ms")
        if mode == "fixed":
            row.goal = f"< {LIMIT_MS:g} ms and PASS"
            row.met = (figures["verdict"] == "PASS" and figures["join_p99_ms"] is not None
                       and figures["join_p99_ms"] < LIMIT_MS)
        else:
            row.goal = "FAIL"
            row.met = figures["verdict"] == "FAIL"
        result.rows.append(row)
    return result
