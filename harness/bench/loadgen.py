"""Load generator: broadcast round trips per second from ONE Locust process.

Subject: Locust headless (one process, the local runner) with
:class:`harness.bench.locust_user.BenchMember`, the project's ``RoomUser``
broadcasting flat out. Ceiling: :mod:`harness.bench.plain_client`, the same
number of plain websocket-client loops in one process. Both drive the ``echo``
bench server (:mod:`harness.bench.servers`), which answers each ``broadcast``
with one ``message`` (acknowledged by the client) and ``broadcasted``: one round
trip is four frames and one delivered message.

The rate is counted on the server (``/count``) over a steady window that starts
``warmup`` seconds after the first broadcast arrives, so start-up (importing
Locust, spawning users) is left out. Subject and ceiling alternate for
``rounds`` rounds; the figures are medians, and the ratio is the median of the
per-round ratios. Because the rate depends on how much CPU the generator gets
on a shared machine, the same comparison is also made per CPU-second of the
generator. CPU shares of the generator and the server are recorded to
show which one is the bottleneck. Goal: the subject reaches at least 70% of the
ceiling.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.bench.procs import CpuMeter, bench_server, python_child, server_count
from harness.bench.result import BenchResult, Row, best_ratio, median, paired_ratio
from harness.processes import ChildProcess

__all__ = ["GOAL_SHARE", "run"]

GOAL_SHARE = 0.7
LOCUSTFILE = "harness/bench/locust_user.py"
START_TIMEOUT_S = 30.0


def _locust(url: str, users: int, seconds: float, log_dir: Path) -> ChildProcess:
    return python_child("locust", [
        "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
        "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{int(seconds)}s",
        "--room-url", url, "--rooms", str(users), "--loglevel", "WARNING",
        "--stop-timeout", "0", "--exit-code-on-error", "0",
    ], log_dir)


def _plain(url: str, users: int, seconds: float, log_dir: Path) -> ChildProcess:
    return python_child("plain", [
        "-m", "harness.bench.plain_client", "--url", url, "--connections", str(users),
        "--seconds", f"{seconds:g}",
    ], log_dir)


def _measure(child: ChildProcess, url: str, server_pid: int, warmup: float,
             duration: float) -> tuple[float, dict[str, float]]:
    """Start ``child``; return round trips per second in the steady window and CPU shares."""
    child.start()
    try:
        first = server_count(url)["broadcasts"]
        deadline = time.monotonic() + START_TIMEOUT_S
        while server_count(url)["broadcasts"] == first:
            if not child.alive():
                raise RuntimeError(f"{child.death_message()} before any broadcast")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} sent nothing within {START_TIMEOUT_S:g} s "
                                   f"(log: {child.log_path})")
            time.sleep(0.1)
        time.sleep(warmup)
        meter = CpuMeter(generator=child.pid, server=server_pid)
        before = server_count(url)
        meter.start()
        time.sleep(duration)
        after = server_count(url)
        cpu = meter.stop()
        if not child.alive():
            raise RuntimeError(f"{child.death_message()} during the window")
        rate = (after["broadcasts"] - before["broadcasts"]) / (after["time"] - before["time"])
        return rate, cpu
    finally:
        child.stop()


def run(tiny: bool = False, log_dir: Path | None = None) -> BenchResult:
    """Measure the subject and the ceiling; ``tiny`` runs one short round, for tests."""
    users, rounds, warmup, duration = (5, 1, 0.5, 1.0) if tiny else (20, 5, 1.0, 2.5)
    result = BenchResult(
        "loadgen",
        "broadcast round trips/s (4 frames, 1 acked message each) from one generator process",
        params={"users": users, "rounds": rounds, "warmup_s": warmup, "window_s": duration,
                "server": "harness.bench.servers --kind echo",
                "goal": f">= {GOAL_SHARE:.0%} of the ceiling"},
    )
    subject_rates: list[float] = []
    ceiling_rates: list[float] = []
    cpu: dict[str, list[dict[str, float]]] = {"locust": [], "plain": []}
    bound = warmup + duration + START_TIMEOUT_S
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as scratch:
        logs = log_dir or Path(scratch)
        with bench_server("echo", logs) as (url, server_pid):
            for index in range(rounds):
                order = ("locust", "plain") if index % 2 == 0 else ("plain", "locust")
                for variant in order:
                    make = _locust if variant == "locust" else _plain
                    rate, shares = _measure(make(url, users, bound, logs), url, server_pid,
                                            warmup, duration)
                    (subject_rates if variant == "locust" else ceiling_rates).append(rate)
                    cpu[variant].append(shares)
    ceiling_name, subject_name = "plain loops (ceiling)", "Locust RoomUser"
    subject = Row(subject_name, median(subject_rates), "rt/s",
                  rounds=[round(rate) for rate in subject_rates],
                  baseline=ceiling_name, baseline_value=median(ceiling_rates),
                  ratio=paired_ratio(subject_rates, ceiling_rates))
    subject.check(f">= {GOAL_SHARE}x", lambda r: r >= GOAL_SHARE)
    result.rows += [Row(ceiling_name, median(ceiling_rates), "rt/s",
                        rounds=[round(rate) for rate in ceiling_rates]), subject]
    # Per CPU-second of the generator: what each costs, whatever share of the CPU it got.
    subject_cpu = _per_cpu(subject_rates, cpu["locust"])
    ceiling_cpu = _per_cpu(ceiling_rates, cpu["plain"])
    if subject_cpu and ceiling_cpu:
        result.rows += [
            Row(f"{ceiling_name} per CPU-s", median(ceiling_cpu), "rt/cpu-s",
                rounds=[round(value) for value in ceiling_cpu]),
            Row(f"{subject_name} per CPU-s", median(subject_cpu), "rt/cpu-s",
                rounds=[round(value) for value in subject_cpu],
                baseline=f"{ceiling_name} per CPU-s", baseline_value=median(ceiling_cpu),
                ratio=paired_ratio(subject_cpu, ceiling_cpu)),
        ]
    result.details["cpu"] = cpu
    result.details["ratio_of_best_rounds"] = best_ratio(subject_rates, ceiling_rates,
                                                        higher_is_better=True)
    if subject.met is False and subject.ratio is not None:
        result.notes.append(f"Locust reaches {subject.ratio:.0%} of the plain loops, under the "
                            f"{GOAL_SHARE:.0%} goal")
    return result


def _per_cpu(rates: list[float], shares: list[dict[str, float]]) -> list[float]:
    """Round trips per CPU-second of the generator, per round (rounds without a share dropped)."""
    return [rate / share["generator"] for rate, share in zip(rates, shares, strict=True)
            if share.get("generator")]
