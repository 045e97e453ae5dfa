"""Server fan-out: messages per second delivered to 50 members of one room.

Subject: the reference server in ``fixed`` mode; every member acknowledges
every message, as the protocol requires, and the server waits for each ack
before the member's next message. Ceiling: the ``broadcast`` bench server
(:mod:`harness.bench.servers`), which writes each message to every member with
``websockets.broadcast``: one encoding, no acks, no per-member queue.

The load is :mod:`harness.bench.fanout_client`: one asyncio process, separate
from the server, with 50 loopback connections (no compression, as the Locust
members use none); one member broadcasts under flow control and the others
receive. Subject and ceiling alternate for ``rounds`` rounds; figures are
medians, ratios medians of per-round ratios.

Besides the raw rate, each row gives messages per CPU-second of the server
process. On this 2-core machine the client process shares the CPU with the
server, and against the ceiling it is usually the client that saturates a
core, so the raw ratio flatters the subject; the per-CPU-second ratio compares
the servers' own cost per message. There is no goal: both are reported.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.bench.procs import bench_server, python_child, reference_server
from harness.bench.result import BenchResult, Row, best_ratio, median, paired_ratio

__all__ = ["run"]

CLIENT_GRACE_S = 60.0  # connecting and joining 50 members, and closing them


def _client(url: str, server_pid: int, ack: bool, members: int, warmup: float,
            duration: float, log_dir: Path) -> dict[str, Any]:
    """Run the fan-out client once; return its JSON figures."""
    args = ["-m", "harness.bench.fanout_client", "--url", url, "--members", str(members),
            "--warmup", f"{warmup:g}", "--duration", f"{duration:g}",
            "--server-pid", str(server_pid)]
    if not ack:
        args.append("--no-ack")
    child = python_child("fanout-client", args, log_dir)
    offset = child.log_path.stat().st_size if child.log_path.exists() else 0
    child.start()
    try:
        assert child.popen is not None
        child.popen.wait(warmup + duration + CLIENT_GRACE_S)
    except Exception:
        raise RuntimeError(f"fan-out client did not finish in time (log: {child.log_path})"
                           ) from None
    finally:
        child.stop()
    lines = child.log_path.read_text(errors="replace")[offset:].splitlines()
    for line in reversed(lines):
        if line.startswith("{"):
            figures: dict[str, Any] = json.loads(line)
            return figures
    raise RuntimeError(f"fan-out client printed no figures: {' | '.join(lines[-3:])}")


def _per_cpu(figures: dict[str, Any]) -> float | None:
    cpu = figures.get("server_cpu")
    return figures["delivered_per_s"] / cpu if cpu else None


def run(tiny: bool = False, log_dir: Path | None = None) -> BenchResult:
    """Measure the subject and the ceiling; ``tiny`` uses 5 members and one short round."""
    members, rounds, warmup, duration = (5, 1, 0.3, 1.0) if tiny else (50, 3, 1.0, 4.0)
    result = BenchResult(
        "fanout",
        f"messages/s delivered to {members} members of one room (one sender)",
        params={"members": members, "rounds": rounds, "warmup_s": warmup, "window_s": duration,
                "flow_window": 32, "subject": "targets.roomserver --mode fixed (acks)",
                "ceiling": "websockets.broadcast, no acks"},
    )
    runs: dict[str, list[dict[str, Any]]] = {"fixed": [], "ceiling": []}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as scratch:
        logs = log_dir or Path(scratch)
        with reference_server("fixed", logs) as fixed, bench_server("broadcast", logs) as bare:
            for index in range(rounds):
                order = ("fixed", "ceiling") if index % 2 == 0 else ("ceiling", "fixed")
                for name in order:
                    url, pid = fixed if name == "fixed" else bare
                    runs[name].append(_client(url, pid, name == "fixed", members, warmup,
                                              duration, logs))
                    time.sleep(0.2)
    result.details["runs"] = runs
    problems = [f"{name}: {key} {figures[key]}" for name, items in runs.items()
                for figures in items for key in ("errors", "closed", "stalled") if figures[key]]
    if problems:
        result.notes.append("problems during the load: " + "; ".join(problems[:5]))
    fixed_rates = [figures["delivered_per_s"] for figures in runs["fixed"]]
    bare_rates = [figures["delivered_per_s"] for figures in runs["ceiling"]]
    rate = Row("fixed (acked)", median(fixed_rates), "msg/s",
               rounds=[round(value) for value in fixed_rates],
               baseline="broadcast ceiling", baseline_value=median(bare_rates),
               ratio=paired_ratio(fixed_rates, bare_rates))
    fixed_cpu = [value for value in map(_per_cpu, runs["fixed"]) if value]
    bare_cpu = [value for value in map(_per_cpu, runs["ceiling"]) if value]
    rows = [Row("broadcast ceiling", median(bare_rates), "msg/s",
                rounds=[round(value) for value in bare_rates]), rate]
    if fixed_cpu and bare_cpu:
        rows += [
            Row("broadcast ceiling per server CPU-s", median(bare_cpu), "msg/cpu-s",
                rounds=[round(value) for value in bare_cpu]),
            Row("fixed (acked) per server CPU-s", median(fixed_cpu), "msg/cpu-s",
                rounds=[round(value) for value in fixed_cpu],
                baseline="broadcast ceiling per server CPU-s",
                baseline_value=median(bare_cpu),
                ratio=paired_ratio(fixed_cpu, bare_cpu)),
        ]
    result.rows += rows
    result.details["ratio_of_best_rounds"] = best_ratio(fixed_rates, bare_rates,
                                                        higher_is_better=True)
    client_cpu = median([figures["client_cpu"] for figures in runs["ceiling"]])
    if client_cpu >= 0.85:
        result.notes.append(f"against the ceiling the client process used {client_cpu:.0%} of "
                            "a core: the raw ceiling is client-bound, so the raw ratio "
                            "overstates the fixed server; see the per-CPU-second rows")
    return result
