"""Child processes for the benchmarks: bench servers, the reference server, CPU meters.

Children are :class:`harness.processes.ChildProcess` objects, so each runs in its
own session, logs to a file and is stopped (SIGTERM, then SIGKILL) even if the
benchmark crashes.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from harness.headless.one_run import run_scenario
from harness.net.httpget import HttpFailed, get_json
from harness.processes import ChildProcess
from harness.rig.launched import ReferenceTarget
from harness.rig.rig import Interrupted
from harness.run import RunOptions, RunOutcome
from harness.target import PROJECT_ROOT, http_base

__all__ = ["CpuMeter", "bench_server", "harness_run", "python_child", "reference_server",
           "server_count"]

_LISTENING = r"listening on (?P<url>ws://\S+)"


def harness_run(options: RunOptions) -> RunOutcome:
    """One real run of the harness, as a step of a benchmark.

    Raises:
        Interrupted: the run was stopped by a signal (it cleaned up after itself): the
            benchmark stops too, rather than go on to its next step.
    """
    outcome = run_scenario(options)
    signum = outcome.extra.get("interrupted_by")
    if signum:
        raise Interrupted(int(signum))
    return outcome


def python_child(name: str, args: list[str], log_dir: Path) -> ChildProcess:
    """A not-yet-started ``python ARGS`` child in the project root, logging to ``log_dir``."""
    return ChildProcess(name, [sys.executable, *args], log_dir / f"{name}.log", cwd=PROJECT_ROOT)


@contextlib.contextmanager
def bench_server(kind: str, log_dir: Path) -> Iterator[tuple[str, int]]:
    """Run ``harness.bench.servers --kind KIND``; yield its ws URL and pid."""
    child = python_child(f"server-{kind}", ["-m", "harness.bench.servers", "--kind", kind],
                         log_dir)
    child.start()
    try:
        match = child.wait_for_line(_LISTENING, 15)
        yield match["url"], child.pid
    finally:
        child.stop()


@contextlib.contextmanager
def reference_server(mode: str, log_dir: Path, **settings: Any) -> Iterator[tuple[str, int]]:
    """Run the reference server in ``mode``; yield its ws URL and pid."""
    target = ReferenceTarget(mode, log_dir, **settings)
    try:
        info = target.start()
        yield info.url, target.process.pid
    finally:
        target.stop()


def server_count(url: str) -> dict[str, Any]:
    """The counters of a bench server (``GET /count``).

    Raises:
        RuntimeError: the server does not answer.
    """
    try:
        counts = get_json(f"{http_base(url)}/count")
    except HttpFailed as exc:
        raise RuntimeError(f"bench server at {url} does not answer /count: {exc}") from None
    if not isinstance(counts, dict):
        raise RuntimeError(f"bench server at {url} answered /count with {counts!r}")
    return counts


class CpuMeter:
    """Share of one core that each process used between :meth:`start` and :meth:`stop`."""

    def __init__(self, **pids: int) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def _read(self) -> dict[str, float]:
        figures: dict[str, float] = {}
        for name, process in self._processes.items():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                figures[name] = float(times.user + times.system)
        return figures

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        """CPU share per process name (1.0 = one core busy all the time)."""
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        end = self._read()
        return {name: round((end[name] - self._start[name]) / elapsed, 3)
                for name in end if name in self._start}
