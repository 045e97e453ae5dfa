"""Against a peer: the chat-rate workload driven by Locust (the harness) and by Artillery.

Artillery's WebSocket engine (npm ``artillery``) can send frames, wait for the next frame
and match it, and think; it cannot answer each delivered message with an ``ack`` (a frame
it receives between steps is dropped unseen). So the comparison uses the plain
join-broadcast-leave subset of the protocol: the reference server in ``fixed`` mode with
``--delivery write`` (it writes each message and waits for no ack), for both tools. Neither
acks: against that server our members send none either (the run sets roomchaos's
``acks = false``, :meth:`harness.rig.rig.Rig.members_protocol`), so both tools do the same
work per delivery: read the frame (ours also time it, check its order and record it).

Each member, in both tools: joins one of the rooms of 10, broadcasts at once and then every
5 s, stays 30 s, leaves, is away 3 s, rejoins; its first join is at a random point of its
first cycle. In the Artillery script (JSON, :func:`artillery_script`) the join is a plain
``send``: a small processor (``artillery_files/processor.js``) times it with a ``function``
step before it and a listener of its own for the ``joined`` reply, since the engine has no
reply timing, and its ``match`` stays installed after the step (a delivery read with the
reply would finish the step twice). Both tools' members connect to the server directly (ours
with ``[network] fast_members = "direct"``, as in ``scale``'s chat-rate row), so the ratio
compares the generators only, not a proxy hop that one of them takes. Artillery's connections
are uncompressed, as ours (its ``ws`` would offer permessage-deflate), and its step reads the
server's ``/metrics`` at the end: a step whose frames the server refused (a protocol error) is
not held, since its members did less work. Our steps are judged alike: ``scale``'s runs sample
the same counter and check that it stays at 0. Both tools' steps are judged by the same rule
(:func:`~harness.bench.scale.window_shortfalls`, :func:`~harness.bench.scale.refused_shortfall`),
and a step not held says why (``not_held_because``).

For each tool the member count steps up by doubling from :data:`START` until a step fails,
then bisects once (the same criterion as ``scale``: join p99 under 250 ms in a window after
the ramp-up and one whole cycle, errors under 1%). The two tools alternate at each count,
so both see the same machine. The rows: the members each held, and their ratio; the
generator CPU per 1,000 members at the counts both held, and their ratio.

Artillery is installed by this benchmark (never by ``make test``) into
``.tools/artillery`` at :data:`ARTILLERY_VERSION`, once the npm registry answered.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.bench.cpu_split import GENERATOR, CpuSplit
from harness.bench.procs import reference_server
from harness.bench.result import BenchResult, Row, median
from harness.bench.scale import (
    CHAT_RATE,
    MIN_JOINS,
    STALLED_SHARE,
    Workload,
    expected_joins,
    measure_step,
    refused_shortfall,
    starved_by_machine,
    window_shortfalls,
)
from harness.net.httpget import HttpFailed, get_ok
from harness.processes import ChildProcess
from harness.scenario import TargetSettings
from harness.target import PROJECT_ROOT, http_base
from harness.thresholds.latency import nearest_rank_percentile

__all__ = ["ARTILLERY_VERSION", "PeerUnavailable", "artillery_script", "ensure_artillery",
           "failed_users", "read_counters", "read_joins", "run", "server_counters"]

ARTILLERY_VERSION = "2.0.34"
ARTILLERY_DIR = PROJECT_ROOT / ".tools" / "artillery"
PROCESSOR = Path(__file__).with_name("artillery_files") / "processor.js"
START = 250
CEILING = 4000
#: How long Node and Artillery may take to start the first member.
START_TIMEOUT_S = 60.0


class PeerUnavailable(Exception):
    """Artillery cannot be installed or run here (no Node.js, no registry)."""


def ensure_artillery(folder: Path = ARTILLERY_DIR) -> Path:
    """The ``artillery`` command in ``folder``, installed with npm first if missing.

    Raises:
        PeerUnavailable: no node or npm, or the npm registry does not answer.
    """
    binary = folder / "node_modules" / ".bin" / "artillery"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node and npm are needed for the Artillery comparison; install "
                              "Node.js 18 or later (e.g. apt-get install nodejs npm)")
    try:
        reach = subprocess.run([npm, "view", f"artillery@{ARTILLERY_VERSION}", "version"],
                               capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable("the npm registry did not answer within 60 s; check the "
                              "network or npm's registry setting") from None
    if reach.returncode != 0 or ARTILLERY_VERSION not in reach.stdout:
        raise PeerUnavailable(f"the npm registry has no artillery@{ARTILLERY_VERSION} for us: "
                              f"{(reach.stderr or reach.stdout).strip()[-200:]}")
    folder.mkdir(parents=True, exist_ok=True)
    # Artillery depends on Playwright, whose install script downloads a browser from a CDN
    # of its own; the WebSocket engine needs none.
    installed = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
         "--loglevel=error", f"artillery@{ARTILLERY_VERSION}"],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
    if installed.returncode != 0 or not binary.exists():
        raise PeerUnavailable(f"npm install artillery@{ARTILLERY_VERSION} failed: "
                              f"{installed.stderr.strip()[-300:]}")
    return binary


def artillery_script(url: str, members: int, workload: Workload, cycles: int) -> dict[str, Any]:
    """The Artillery test script (JSON) for ``members`` doing ``workload`` against ``url``."""
    broadcasts = max(1, math.floor(workload.stay_s / workload.broadcast_interval_s))
    # sent_at before body: Artillery's template engine drops the brace after "{{ now }}}",
    # so with sent_at last every broadcast was cut JSON, which the server refused (until
    # 2026-12-07 it ran no broadcast and fanned out nothing for Artillery's members).
    broadcast = {"send": '{"type":"broadcast","room":"{{ room }}","id":"{{ id }}",'
                         '"sent_at":{{ now }},"body":"hello"}'}
    stay = [{"function": "stamp"}, broadcast, {"think": _duration(workload.broadcast_interval_s)}]
    return {
        "config": {
            "target": url,
            "phases": [{"duration": max(1, math.ceil(workload.spawn_s)),
                        "arrivalCount": members}],
            "processor": str(PROCESSOR),
            "timeout": 5,
            # Handed to the ws library's WebSocket: it offers permessage-deflate unless told
            # not to, websocket-client (ours) never does; compressed, each delivery would cost
            # the server a deflate and Artillery an inflate that ours do not pay.
            "ws": {"timeout": 5, "perMessageDeflate": False},
        },
        "scenarios": [{
            "name": "chat-rate member",
            "engine": "ws",
            "flow": [
                {"function": "setUp"},
                {"loop": [
                    {"function": "beforeJoin"},
                    {"send": json.dumps({"type": "join", "room": "{{ room }}",
                                         "member": "{{ member }}"})},
                    {"loop": stay, "count": broadcasts},
                    {"send": json.dumps({"type": "leave", "room": "{{ room }}"})},
                    {"think": _duration(workload.away_s)},
                ], "count": cycles},
            ],
        }],
    }


def _duration(seconds: float) -> str:
    """A think time for Artillery, which reads a bare number as seconds only when it is a
    whole number (``0.5`` would be half a millisecond): always in milliseconds."""
    return f"{round(seconds * 1000)}ms"


def read_joins(path: Path) -> tuple[float | None, list[tuple[float, float | None]]]:
    """When the first member arrived (the ``start`` line; None before), and ``(unix time,
    join ms)`` per join line the processor wrote (ms None: a join never answered; a torn
    last line is skipped)."""
    start: float | None = None
    joins: list[tuple[float, float | None]] = []
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 2:
                continue
            try:
                if parts[0] == "start":
                    start = float(parts[1])
                elif parts[1] == "fail":
                    joins.append((float(parts[0]), None))
                else:
                    joins.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return start, joins


def failed_users(log: str) -> int:
    """``vusers.failed`` summed over Artillery's reports in its output."""
    total = 0
    for line in log.splitlines():
        if line.startswith("vusers.failed:"):
            digits = line.rsplit(" ", 1)[-1]
            total += int(digits) if digits.isdigit() else 0
    return total


def server_settings() -> dict[str, Any]:
    """The reference server's flags for Artillery's steps: those a run of ours gives it (the
    scenario's ``[target]`` defaults, with ``write`` delivery), so both tools meet the same
    server. Before, Artillery's server ran without lockwatch's suspension tracking
    (``--lock-suspend-threshold``), ours with it."""
    target = TargetSettings()
    return {"lock_wait_threshold": target.lock_wait_threshold_s,
            "lock_hold_threshold": target.lock_hold_threshold_s,
            "lock_suspend_threshold": target.lock_suspend_threshold_s,
            "send_timeout": target.send_timeout_s, "delivery": "write"}


def read_counters(text: str) -> dict[str, float]:
    """The reference server's unlabelled samples in its ``/metrics`` text, by name without
    ``roomserver_`` (``broadcasts_total``, ``protocol_errors_total``, ...)."""
    counters: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("roomserver_") and "{" not in name:
            try:
                counters[name.removeprefix("roomserver_")] = float(value)
            except ValueError:
                continue
    return counters


def server_counters(url: str) -> dict[str, float]:
    """:func:`read_counters` of the server at ``url``; empty when it does not answer."""
    try:
        return read_counters(get_ok(f"{http_base(url)}/metrics", timeout=5.0)
                             .decode(errors="replace"))
    except HttpFailed:
        return {}


def artillery_step(binary: Path, workload: Workload, members: int, runs_dir: Path,
                   min_joins: int = MIN_JOINS) -> dict[str, Any]:
    """One Artillery run of ``members``; join p99 and CPU over the same window as ``scale``."""
    folder = runs_dir / f"artillery-{members}"
    attempt = 1
    while folder.exists():  # a step measured again keeps the first one's files
        attempt += 1
        folder = runs_dir / f"artillery-{members}-{attempt}"
    folder.mkdir(parents=True)
    warmup = workload.spawn_s + workload.period_s + 1
    window = workload.window_s
    cycles = math.ceil((warmup + window) / workload.period_s) + 1
    started = time.monotonic()
    joins_file = folder / "joins.txt"
    with reference_server("fixed", folder, **server_settings()) as (url, server_pid):
        script = folder / "script.json"
        script.write_text(json.dumps(artillery_script(url, members, workload, cycles),
                                     indent=1))
        env = {**os.environ, "ROOMCHAOS_ARTILLERY_JOINS": str(joins_file),
               "ROOMCHAOS_ARTILLERY_ROOMS": str(workload.rooms(members)),
               "ROOMCHAOS_ARTILLERY_PERIOD_MS": str(int(workload.period_s * 1000)),
               "ARTILLERY_DISABLE_TELEMETRY": "true", "WORKERS": "1"}
        child = ChildProcess("artillery", [str(binary), "run", str(script)],
                             folder / "artillery.log", env=env, cwd=folder)
        split = CpuSplit()
        child.start()
        pids = {GENERATOR: child.pid, "server": server_pid}
        # Node and Artillery take seconds to start: the clock starts at the first arrival.
        deadline = time.time() + START_TIMEOUT_S
        load_began: float | None = None
        try:
            while child.alive():
                split.read_trees(pids)
                if load_began is None:
                    load_began = read_joins(joins_file)[0]
                    if load_began is None and time.time() > deadline:
                        break
                elif time.time() > load_began + warmup + window + 0.5:
                    break
                time.sleep(0.5)
            split.read_trees(pids)
            counters = server_counters(url)
        finally:
            child.stop(grace=3.0)
    if load_began is None:
        raise RuntimeError(f"Artillery started no member within {START_TIMEOUT_S:g} s "
                           f"(see {folder / 'artillery.log'})")
    window_start, window_end = load_began + warmup, load_began + warmup + window
    inside = [ms for when, ms in read_joins(joins_file)[1]
              if window_start <= when <= window_end]
    latencies = sorted(ms for ms in inside if ms is not None)
    unanswered = len(inside) - len(latencies)
    log = (folder / "artillery.log").read_text(errors="replace")
    failed = failed_users(log)
    p99 = nearest_rank_percentile(latencies, 99) if latencies else None
    ratio = (failed + unanswered) / max(members, len(inside))
    cores = split.cores(window_start, window_end)
    generator = cores.get(GENERATOR)
    waited = split.waited(window_start, window_end)
    others = split.others(window_start, window_end)
    refused = counters.get("protocol_errors_total", 0)
    # Judged as our steps are; a frame the server refused is work Artillery's members did not
    # do (a count the server did not export counts as 0 here, as before).
    why = window_shortfalls(p99, len(latencies), min_joins, ratio) + refused_shortfall(refused)
    held = not why
    starved = starved_by_machine(waited[GENERATOR], others)
    expected = expected_joins(members, window, workload.period_s)
    stalled = len(inside) < STALLED_SHARE * expected
    return {"tool": "artillery", "members": members, "join_p99_ms": p99,
            "expected_joins": expected, "stalled": stalled,
            "joins": len(latencies), "failed_users": failed, "joins_unanswered": unanswered,
            "server_broadcasts": counters.get("broadcasts_total"),
            "server_protocol_errors": refused, "held": held, "not_held_because": why,
            "starved": starved, "inconclusive": stalled or (starved and not held),
            "waited_for_core": waited, "others_cores": others,
            "cpu_cores": cores, "generator_cores_per_1000": None if generator is None
            else round(generator / members * 1000, 3),
            "seconds": round(time.monotonic() - started, 1), "run_dir": str(folder)}


def _search(measure: Any, start: int, ceiling: int,
            grain: int) -> tuple[int | None, list[dict[str, Any]], int | None]:
    """Double from ``start`` until a step fails, bisect once: the largest count held, the
    steps, and the count at which stepping stopped inconclusive (twice; else None)."""
    steps: list[dict[str, Any]] = []
    held_max: int | None = None
    failed_min: int | None = None

    def attempt(count: int) -> dict[str, Any]:
        step = measure(count)
        steps.append(step)
        if step["inconclusive"]:  # the machine starved it: once more
            step = measure(count)
            steps.append(step)
        return step

    members = start
    while members <= ceiling:
        step = attempt(members)
        if step["inconclusive"]:
            return held_max, steps, members
        if not step["held"]:
            failed_min = members
            break
        held_max = members
        members *= 2
    if failed_min is not None:
        low = held_max or 0
        middle = max(grain, round((low + failed_min) / 2 / grain) * grain)
        if low < middle < failed_min:
            step = attempt(middle)
            if step["inconclusive"]:
                return held_max, steps, middle
            if step["held"]:
                held_max = middle
    return held_max, steps, None


def run(tiny: bool = False, work_dir: Path | None = None) -> BenchResult:
    """Search the members each tool holds at chat rate; rows with their ratios."""
    workload, start, ceiling = CHAT_RATE, START, CEILING
    if tiny:
        workload = dataclasses.replace(CHAT_RATE, members_per_room=5, broadcast_interval_s=0.5,
                                       stay_s=1.0, away_s=0.2, start=10, ceiling=10, grain=5,
                                       window_s=2.0, budget_s=60.0, spawn_s=1.0)
        start = ceiling = 10
    result = BenchResult(
        "peer",
        "chat-rate members held (join p99 < 250 ms) and generator CPU per 1,000 members: "
        "Locust with the harness's members against Artillery's WebSocket engine",
        params={"artillery": ARTILLERY_VERSION, "subset": "join, broadcast, leave (no acks): "
                "the server with --delivery write for both tools",
                "start": start, "ceiling": ceiling,
                "path": "both tools' members connect to the server directly"})
    try:
        binary = ensure_artillery()
    except PeerUnavailable as exc:
        result.error = f"Artillery unavailable: {exc}"
        return result
    runs_dir = (work_dir or PROJECT_ROOT / "results") / "bench-runs" / time.strftime(
        "peer-%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    result.params["runs_dir"] = str(runs_dir)
    min_joins = 3 if tiny else MIN_JOINS

    def ours(members: int) -> dict[str, Any]:
        step = measure_step(workload, members, workload.window_s, runs_dir, min_joins,
                            delivery="write")
        return {"tool": "locust", **step}

    def theirs(members: int) -> dict[str, Any]:
        return artillery_step(binary, workload, members, runs_dir, min_joins)

    ours_held, ours_steps, ours_stopped = _search(ours, start, ceiling, workload.grain)
    theirs_held, theirs_steps, theirs_stopped = _search(theirs, start, ceiling, workload.grain)
    result.details["steps"] = ours_steps + theirs_steps
    for name, held, steps, stopped in (
            ("Locust (harness)", ours_held, ours_steps, ours_stopped),
            ("Artillery", theirs_held, theirs_steps, theirs_stopped)):
        bound = "none held" if held is None else f"held {held}"
        result.rows.append(Row(f"{name}: largest count held ({bound}, "
                               f"{len(steps)} steps)", held, "members"))
        if stopped is not None:
            result.notes.append(f"{name}: the step at {stopped} members was starved twice (it "
                                "waited for a core while other work took the machine): its "
                                "figure is a lower bound")
    held_ratio = None if not ours_held or not theirs_held else round(ours_held / theirs_held, 2)
    result.rows.append(Row("members held, Locust / Artillery", ours_held, "members",
                           baseline="Artillery", baseline_value=theirs_held, ratio=held_ratio))
    per_1000 = {tool: {step["members"]: step["generator_cores_per_1000"]
                       for step in steps if step["held"] and step["generator_cores_per_1000"]}
                for tool, steps in (("locust", ours_steps), ("artillery", theirs_steps))}
    common = sorted(set(per_1000["locust"]) & set(per_1000["artillery"]))
    ratios = [per_1000["locust"][count] / per_1000["artillery"][count] for count in common]
    ours_cpu = median([per_1000["locust"][count] for count in common]) if common else None
    theirs_cpu = median([per_1000["artillery"][count] for count in common]) if common else None
    row = Row(f"generator CPU per 1,000 members, Locust / Artillery (at {common or 'no'} "
              "members held by both)", ours_cpu, "cores", rounds=ratios, baseline="Artillery",
              baseline_value=theirs_cpu, ratio=None if not ratios else round(median(ratios), 2))
    # The goal: at least Artillery's capacity per core, i.e. no more CPU per member.
    result.rows.append(row.check("<= 1.0x", lambda value: value <= 1.0))
    return result

