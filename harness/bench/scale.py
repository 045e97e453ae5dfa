"""Scale: the most members one Locust process holds with join p99 under 250 ms.

Three searches over the member count (:class:`Workload`), at two loads:

- **chat rate, direct** (the goal: at least :data:`CHAT_GOAL` members): rooms of 10, every
  member broadcasts every 5 s, stays 30 s, leaves for 3 s and rejoins (join/leave churn); the
  members connect to the server itself (``[network] fast_members = "direct"``);
- **chat rate, proxy**: the same load through Toxiproxy's clean proxy, as every run went
  before ``fast_members`` existed (a further row: what the proxy costs the machine);
- **chatty** (the old step, kept as a further row, through the proxy as before): 100 rooms,
  a broadcast every 200 ms, stays of 2 s, 200 ms away.

Each step is one run of the harness itself (:func:`harness.headless.one_run.run_scenario`) with a
generated scenario: the reference server in ``fixed`` mode, one Locust process with the
project's ``locustfile.py`` (direct, or through Toxiproxy's clean proxy: the workload's
``fast_members``), no fault. On one 2-core machine the proxy is a third process competing for
the cores (at 2,000 members it took about as much CPU as the server), so the row judged
against the goal measures the generator and the server, not the proxy.
The window judged starts once every member has been spawned and has had one whole
stay+away cycle to join (members start at a random point of their first cycle), and lasts
the workload's ``window_s``; a step holds when, in that window, the fast members' join p99 is
under 250 ms, under 1% of operations failed and there were at least 20 joins, and the server
refused none of the members' frames (its ``roomserver_protocol_errors_total``, sampled by the
run: :func:`judge_step`); a step not held says why (``not_held_because``). A window with
under a quarter of the joins the load implies (one per member per cycle) has stalled: the
machine was busy elsewhere, and the step proves nothing either way. So does a failed window
in which the generator was *starved*: it waited for a core more than a quarter of the time
while other people's processes took more than half a core (:func:`starved_by_machine`; the
benchmark runs niced on a shared machine). An inconclusive step is measured once more; if it
is inconclusive again, stepping stops there.

Every step also records the CPU each process used over the window (:mod:`.cpu_split`): the
generator, the server, Toxiproxy and this process (the harness's own following and judging),
so the generator's CPU per 1,000 members comes with each count.

The count steps up by doubling until a step fails (or the time budget runs out), then the
interval between the last count that held and the first that failed is bisected once. The
result is the largest count that held; it is a property of this whole set-up (server, one
generator, Toxiproxy, one shared 2-core machine), not of the server alone.

Each finished step prints a progress line (:mod:`harness.reports.batch_progress`): the steps done
of at most how many, and the time left.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench.cpu_split import GENERATOR, CpuSplit, sampling
from harness.bench.procs import harness_run
from harness.bench.result import BenchResult, Row
from harness.measure.measurements import Sample
from harness.reports.batch_progress import BatchProgress
from harness.run import RunOptions
from harness.runfolder import RunFolder
from harness.scenario import load_scenario
from harness.target import PROJECT_ROOT
from harness.thresholds import CheckResult, parse_check
from harness.thresholds.latency import nearest_rank_percentile

__all__ = ["CHAT_GOAL", "CHAT_RATE", "CHAT_RATE_PROXY", "CHATTY", "LIMIT_MS", "REFUSED_CHECK",
           "Workload", "judge_step", "judge_window", "measure_step", "refused_shortfall", "run",
           "window_shortfalls"]

LIMIT_MS = 250.0
MAX_ERROR_RATIO = 0.01
MIN_JOINS = 20
#: The reference server's count of frames it refused (``/metrics``), sampled by the run.
PROTOCOL_ERRORS = "roomserver_protocol_errors_total"
#: Each step's check that the server refused none of the members' frames (its last sample).
REFUSED_CHECK = f"metric[{PROTOCOL_ERRORS}].last < 1"
#: The chat-rate search's goal: members one generator process holds.
CHAT_GOAL = 2000


@dataclass(frozen=True)
class Workload:
    """What each member does, and how the member count is searched."""

    name: str
    members_per_room: int
    broadcast_interval_s: float
    stay_s: float
    away_s: float
    start: int        # first count tried
    ceiling: int      # never try more
    grain: int        # the bisection rounds to a multiple of this
    window_s: float   # judged window, after the ramp-up and one whole cycle
    budget_s: float   # stop stepping when the next step would end after this
    spawn_s: float    # the ramp-up spawns every member within about this long
    room_count: int | None = None  # a fixed number of rooms instead of members_per_room
    #: ``[network] fast_members``: ``direct`` to the server, or through the clean ``proxy``.
    fast_members: str = "proxy"
    goal: int | None = None  # members the search should hold (its row is judged by it)

    @property
    def slug(self) -> str:
        """The name for run folders: ``chat-rate-direct``."""
        return "-".join(re.findall(r"[a-z0-9]+", self.name.lower()))

    @property
    def period_s(self) -> float:
        return self.stay_s + self.away_s

    def rooms(self, members: int) -> int:
        if self.room_count is not None:
            return min(self.room_count, members)
        return max(1, members // self.members_per_room)


CHAT_RATE = Workload("chat rate, direct", members_per_room=10, broadcast_interval_s=5.0,
                     stay_s=30.0, away_s=3.0, start=250, ceiling=4000, grain=125, window_s=20.0,
                     budget_s=600.0, spawn_s=10.0, fast_members="direct", goal=CHAT_GOAL)
CHAT_RATE_PROXY = dataclasses.replace(CHAT_RATE, name="chat rate, proxy", fast_members="proxy",
                                      goal=None)
CHATTY = Workload("chatty", members_per_room=0, broadcast_interval_s=0.2, stay_s=2.0,
                  away_s=0.2, start=100, ceiling=3200, grain=50, window_s=6.0,
                  budget_s=180.0, spawn_s=4.0, room_count=100)
#: ``--tiny``'s chat rate (direct; the proxy's is the same through the proxy): 10 and 20
#: members in rooms of 5, short cycles, at least :data:`TINY_MIN_JOINS` joins a window. The
#: figures mean nothing; the steps run as the real ones do.
TINY_CHAT_RATE = dataclasses.replace(CHAT_RATE, members_per_room=5, broadcast_interval_s=0.5,
                                     stay_s=1.0, away_s=0.2, start=10, ceiling=20, grain=5,
                                     window_s=2.0, budget_s=60.0, spawn_s=1.0, goal=10)
TINY_MIN_JOINS = 3
#: A window with fewer joins than this share of :func:`expected_joins` stalled
#: (the generator or the whole machine stopped): it proves nothing either way.
STALLED_SHARE = 0.25
#: A window in which the generator waited for a core more than this share of the time while
#: other people's processes took more than :data:`STARVED_OTHERS` cores was starved by the
#: machine (this benchmark runs niced): like a stalled one, it proves nothing either way.
STARVED_WAIT = 0.25
STARVED_OTHERS = 0.5

SCENARIO = """
name = "bench-scale-{members}"
description = "Generated by harness.bench.scale ({workload}): {members} members in {rooms} rooms."

[target]
delivery = "{delivery}"

[load]
rooms = {rooms}
members = {members}
slow_members = 0
spawn_rate = {spawn_rate}
broadcast_interval = "{interval}s"
stay = "{stay}s"
away = "{away}s"

[network]
fast_members = "{fast_members}"

[timing]
warmup = "{warmup}s"
fault = "0s"
cooldown = "{window}s"

[thresholds]
min_samples = 1
# A frame the server refused is work the members did not do: such a step is not held.
checks = ["join[fast].p99 < {limit:g}ms", "errors.ratio < {errors:g}",
          "{refused_check}"]
# The generator's own limit is what this benchmark looks for: judge it by the window
# (judge_window), not as "load generator overloaded".
max_generator_lag = "60m"
"""


def judge_window(samples: list[Sample], start: float, end: float,
                 min_joins: int = MIN_JOINS) -> dict[str, Any]:
    """Join p99, error ratio and counts of the samples completed in ``[start, end]``."""
    window = [sample for sample in samples if start <= sample.time <= end]
    joins = sorted(sample.latency_ms for sample in window
                   if sample.op == "join" and sample.member_kind == "fast" and sample.ok)
    failed = sum(1 for sample in window if not sample.ok)
    p99 = nearest_rank_percentile(joins, 99) if joins else None
    ratio = failed / len(window) if window else None
    why = window_shortfalls(p99, len(joins), min_joins, ratio)
    return {"join_p99_ms": p99, "joins": len(joins), "operations": len(window),
            "error_ratio": None if ratio is None else round(ratio, 4), "held": not why,
            "not_held_because": why}


def window_shortfalls(p99: float | None, joins: int, min_joins: int,
                      error_ratio: float | None) -> list[str]:
    """Why a window does not hold (empty: it holds): the fast joins' p99 not under
    :data:`LIMIT_MS`, fewer than ``min_joins`` joins, or :data:`MAX_ERROR_RATIO` of the
    operations failed or more. Our steps and Artillery's (:mod:`.peer`) are judged by it."""
    why = []
    if p99 is None:
        why.append("no fast join in the window")
    elif p99 >= LIMIT_MS:
        why.append(f"join p99 {p99:.0f} ms, not under {LIMIT_MS:g} ms")
    if joins < min_joins:
        why.append(f"{joins} joins, under {min_joins}")
    if error_ratio is None:
        why.append("no operation in the window")
    elif error_ratio >= MAX_ERROR_RATIO:
        why.append(f"{error_ratio:.1%} of operations failed, not under {MAX_ERROR_RATIO:.0%}")
    return why


def refused_shortfall(refused: float | None) -> list[str]:
    """Why the server's count of refused frames stops a step from holding (empty: it does
    not): not measured, or above 0. A frame the server refused is work the members did not
    do."""
    if refused is None:
        return [f"the server's count of refused frames ({PROTOCOL_ERRORS}) was not measured"]
    if refused > 0:
        return [f"the server refused {refused:g} of the members' frames ({PROTOCOL_ERRORS})"]
    return []


def judge_step(window: dict[str, Any], verdict_status: str,
               check_results: Sequence[CheckResult]) -> dict[str, Any]:
    """The window's figures (:func:`judge_window`) with what the run itself found: the
    server's count of refused frames as the run's check :data:`REFUSED_CHECK` measured it
    (``server_protocol_errors``; None: not measured), and whether the step is held and why not
    (``not_held_because``). A frame the server refused is work the members did not do: a step
    is held only when that count is 0, the run's verdict is no ERROR and the window held."""
    subject = parse_check(REFUSED_CHECK).subject
    refused = next((result.measured for result in check_results
                    if result.subject == subject), None)
    why = list(window["not_held_because"])
    if verdict_status == "ERROR":
        why.append("the run's verdict is ERROR")
    why += refused_shortfall(refused)
    return {**window, "server_protocol_errors": refused, "held": not why,
            "not_held_because": why}


def expected_joins(members: int, window: float, period: float = 2.2) -> int:
    """Joins the window should hold if nothing stalls: one per member per stay+away cycle."""
    return int(members * window / period)


def measure_step(workload: Workload, members: int, window: float, runs_dir: Path,
          min_joins: int, delivery: str = "ack") -> dict[str, Any]:
    """One run of ``members`` in ``fixed`` mode with ``delivery``; its window's figures."""
    rooms = workload.rooms(members)
    spawn_rate = max(50, math.ceil(members / workload.spawn_s))
    # Every member spawned, then one whole cycle: each has joined at its random phase.
    warmup = math.ceil(members / spawn_rate + workload.period_s) + 1
    slug = workload.slug + ("" if delivery == "ack" else f"-{delivery}")
    run_id = f"scale-{slug}-{members}"
    attempt = 1
    # A step measured again gets a run folder of its own: a reused one would hold the first
    # run's logs, and the new target's "listening" line would be read from the old log.
    while (runs_dir / f"{run_id}.toml").exists():
        attempt += 1
        run_id = f"scale-{slug}-{members}-{attempt}"
    path = runs_dir / f"{run_id}.toml"
    path.write_text(SCENARIO.format(members=members, rooms=rooms, spawn_rate=spawn_rate,
                                    workload=workload.name, delivery=delivery,
                                    fast_members=workload.fast_members,
                                    interval=f"{workload.broadcast_interval_s:g}",
                                    stay=f"{workload.stay_s:g}", away=f"{workload.away_s:g}",
                                    warmup=warmup, window=window, limit=LIMIT_MS,
                                    errors=MAX_ERROR_RATIO, refused_check=REFUSED_CHECK))
    started = time.monotonic()
    with sampling(CpuSplit()) as split:
        outcome = harness_run(RunOptions(scenario=load_scenario(path), mode="fixed",
                                          results_dir=runs_dir,
                                          run_id=run_id, progress=False))
    measured = outcome.measurements
    window_start = measured.run_started + warmup
    figures = judge_step(judge_window(measured.samples, window_start, measured.run_ended,
                                      min_joins),
                         outcome.verdict.status, outcome.verdict.check_results)
    cores = split.cores(window_start, measured.run_ended)
    generator = cores[GENERATOR]
    waited = split.waited(window_start, measured.run_ended)
    others = split.others(window_start, measured.run_ended)
    cpu_warning = False
    log = RunFolder(outcome.run_dir).locust_log
    if log.is_file():
        cpu_warning = "CPU usage" in log.read_text(errors="replace")
    lag = measured.generator_lag.worst() if measured.generator_lag is not None else None
    figures["generator_lag_p99_ms"] = None if lag is None else round(lag.p99_ms, 1)
    expected = expected_joins(members, window, workload.period_s)
    stalled = outcome.verdict.status != "ERROR" and figures["joins"] < STALLED_SHARE * expected
    starved = starved_by_machine(waited[GENERATOR], others)
    return {"workload": workload.name, "fast_members": workload.fast_members,
            "members": members, "rooms": rooms,
            "spawn_rate": spawn_rate, "verdict": outcome.verdict.status,
            "expected_joins": expected, "stalled": stalled, "starved": starved,
            "inconclusive": stalled or (starved and not figures["held"]),
            "cpu_cores": cores, "waited_for_core": waited, "others_cores": others,
            "generator_cores_per_1000": None if generator is None
            else round(generator / members * 1000, 3),
            "locust_cpu_warning": cpu_warning, "seconds": round(time.monotonic() - started, 1),
            "run_dir": str(outcome.run_dir), **figures}


def starved_by_machine(generator_wait: float | None, others: float | None) -> bool:
    """Whether the machine's other work starved the generator over a window."""
    return (generator_wait is not None and others is not None
            and generator_wait > STARVED_WAIT and others > STARVED_OTHERS)


def planned_steps(start: int, ceiling: int, bisect: bool) -> int:
    """Steps the search takes at most: doubling from ``start`` up to ``ceiling``, and one
    bisection (``bisect``) after the first step that fails."""
    doublings = max(0, math.floor(math.log2(ceiling / start))) + 1
    return doublings + (1 if bisect else 0)


def step_outcome(step: dict[str, Any]) -> str:
    """A step in a few words: ``400 members: held, join p99 88 ms``."""
    outcome = ("stalled" if step["stalled"] else "starved" if step["inconclusive"]
               else "held" if step["held"] else "failed")
    p99 = step["join_p99_ms"]
    p99_text = "no joins" if p99 is None else f"join p99 {p99:.0f} ms"
    why = step.get("not_held_because") if outcome == "failed" else None
    return (f"{step['members']} members: {outcome}, {p99_text} ({step['verdict']})"
            + (f": {'; '.join(why)}" if why else ""))


def _round_to(value: float, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def run(tiny: bool = False, work_dir: Path | None = None) -> BenchResult:
    """Search the chat rate direct, then through the proxy, then the chatty load; ``tiny``:
    the chat rate at 10 and 20 members in rooms of 5, short cycles, direct and through the
    proxy (the figures mean nothing)."""
    runs_dir = (work_dir or PROJECT_ROOT / "results") / "bench-runs" / time.strftime(
        "scale-%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    workloads = [CHAT_RATE, CHAT_RATE_PROXY, CHATTY]
    min_joins = MIN_JOINS
    if tiny:
        workloads = [TINY_CHAT_RATE, dataclasses.replace(TINY_CHAT_RATE, name=CHAT_RATE_PROXY.name,
                                                         fast_members="proxy", goal=None)]
        min_joins = TINY_MIN_JOINS
    result = BenchResult(
        "scale",
        f"most members held by the fixed server and one Locust process with join p99 < "
        f"{LIMIT_MS:g} ms: chat rate with direct fast members (goal >= {CHAT_GOAL:,}), then "
        "through the clean proxy, then chatty",
        params={"criterion": f"join[fast] p99 < {LIMIT_MS:g} ms, errors < "
                             f"{MAX_ERROR_RATIO:.0%}, >= {min_joins} joins, after ramp-up "
                             "and one whole cycle",
                "workloads": {workload.name: {
                    "members_per_room": workload.members_per_room,
                    "broadcast_interval_s": workload.broadcast_interval_s,
                    "stay_s": workload.stay_s, "away_s": workload.away_s,
                    "window_s": workload.window_s, "budget_s": workload.budget_s,
                    "fast_members": workload.fast_members}
                    for workload in workloads},
                "runs_dir": str(runs_dir)},
    )
    steps: list[dict[str, Any]] = []
    for workload in workloads:
        _search(workload, runs_dir, min_joins, tiny, result, steps)
    result.details["steps"] = steps
    if any(step["locust_cpu_warning"] for step in steps):
        result.notes.append("Locust warned about its CPU usage in at least one step: the "
                            "generator, not the server, may set the limit")
    return result


def _search(workload: Workload, runs_dir: Path, min_joins: int, tiny: bool,
            result: BenchResult, steps: list[dict[str, Any]]) -> None:
    """Step ``workload``'s member count up, then bisect once; add its rows to ``result``."""
    began = time.monotonic()
    searched: list[dict[str, Any]] = []
    held_max: int | None = None
    failed_min: int | None = None
    stalled_at: int | None = None
    members = workload.start
    last_seconds = 0.0
    # Doubling up to the ceiling, one bisection: at most that many steps (a stalled one twice).
    progress = BatchProgress(f"scale {workload.name}",
                             planned_steps(workload.start, workload.ceiling, bisect=not tiny),
                             at_most=True, budget_s=workload.budget_s)

    def over_budget() -> bool:
        return time.monotonic() - began + last_seconds > workload.budget_s

    def measure(count: int) -> dict[str, Any]:
        nonlocal last_seconds
        step = measure_step(workload, count, workload.window_s, runs_dir, min_joins)
        searched.append(step)
        last_seconds = step["seconds"]
        progress.run_finished(step_outcome(step))
        return step

    def attempt(count: int) -> dict[str, Any]:
        step = measure(count)
        if step["inconclusive"] and not over_budget():  # measure once more before giving up
            progress.planned += 1
            step = measure(count)
        return step

    while members <= workload.ceiling and not over_budget():
        step = attempt(members)
        if step["inconclusive"]:
            stalled_at = members
            break
        if step["held"]:
            held_max = members
            members *= 2
        else:
            failed_min = members
            break
    if failed_min is not None and not tiny and not over_budget():
        low = held_max or 0
        middle = _round_to((low + failed_min) / 2, workload.grain)
        if low < middle < failed_min:
            step = attempt(middle)
            if step["inconclusive"]:
                stalled_at = middle
            elif step["held"]:
                held_max = middle
            else:
                failed_min = middle
    steps.extend(searched)
    name = workload.name
    for step in searched:
        label = (f"{name}, {step['members']} members: join p99"
                 + (" (stalled)" if step["stalled"] else " (starved)" if step["inconclusive"]
                    else " (held)" if step["held"] else " (failed)"))
        result.rows.append(Row(label, step["join_p99_ms"], "ms"))
        per_1000 = step["generator_cores_per_1000"]
        if per_1000 is not None:
            result.rows.append(Row(f"{name}, {step['members']} members: generator CPU per "
                                   "1,000 members", per_1000, "cores"))
    bound = (f"held {held_max}" if held_max else f"none held from {workload.start}") + (
        f", failed at {failed_min}" if failed_min else ", no step failed")
    row = Row(f"{name}: largest count held ({bound})", held_max, "members",
              rounds=[] if held_max is None else [held_max])
    if workload.goal is not None:
        goal = workload.goal
        row.goal = f">= {goal:,} members"
        reached = held_max is not None and held_max >= goal
        # Stopped by a starved or stalled window below the goal: not shown either way.
        row.met = True if reached else (None if stalled_at is not None else False)
    result.rows.append(row)
    if stalled_at is not None:
        result.notes.append(f"{name}: the window at {stalled_at} members was inconclusive twice "
                            "(stalled: far fewer joins than the load implies; or starved: the "
                            "generator waited for a core while other work took the machine); "
                            "stepping stopped there, so the figure is a lower bound")
    elif failed_min is None and members <= workload.ceiling:
        result.notes.append(f"{name}: time budget ({workload.budget_s:g} s) ran out before a "
                            "step failed; the figure is a lower bound")
    elif failed_min is None:
        result.notes.append(f"{name}: every step up to the ceiling of {workload.ceiling:,} "
                            "held; the figure is a lower bound")
