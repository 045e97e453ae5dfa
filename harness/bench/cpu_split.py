"""Where the CPU goes during a run: process CPU time per role, sampled in the background.

A run started by this process (:func:`harness.headless.one_run.run_scenario`) has children: the
Locust process (the generator), the target server, ``toxiproxy-server``. This process itself runs
the harness's own side (following the samples, judging, the progress). :class:`CpuSplit` reads every
one's CPU time (user + system, from psutil) every :data:`INTERVAL_S`, with the wall time, so that
the CPU used over any window of the run can be worked out afterwards (:meth:`CpuSplit.cores`).
Process CPU time is what a process got, so a machine busy with other work distorts it less than
wall-clock rates.

It also reads how long each process's threads were ready to run but waited for a core
(the run-queue delay, the second field of Linux's ``/proc/PID/task/TID/schedstat``):
:meth:`CpuSplit.waited`. A generator that waited for a core a large share of a window was
starved by the machine's other work; its latencies then measure the machine.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil

__all__ = ["HARNESS", "INTERVAL_S", "MACHINE", "CpuSplit", "ROLES", "role_of", "run_queue_wait",
           "sampling"]

INTERVAL_S = 0.5
GENERATOR, SERVER, TOXIPROXY, HARNESS = "generator", "server", "toxiproxy", "harness"
ROLES = (GENERATOR, SERVER, TOXIPROXY, HARNESS)
#: Not a role: every process's CPU on the machine (busy time of all cores), to tell how much
#: went to other people's work (:meth:`CpuSplit.others`).
MACHINE = "machine"


def role_of(cmdline: list[str]) -> str | None:
    """The role of a child process by its command line (None: not one we measure)."""
    line = " ".join(cmdline)
    if "locust" in line:
        return GENERATOR
    if "toxiproxy-server" in line:
        return TOXIPROXY
    if " -m targets." in line:
        return SERVER
    return None


@dataclass
class CpuSplit:
    """CPU seconds per role over time: ``points`` of (wall time, {role: CPU seconds}), and
    ``waits`` of (wall time, {role: seconds waited for a core})."""

    points: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    waits: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def read(self) -> None:
        """Add one point: the CPU time so far of this process and of each child by role."""
        me = psutil.Process(os.getpid())
        families: dict[str, list[psutil.Process]] = {HARNESS: [me]}
        with contextlib.suppress(psutil.Error):
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    role = role_of(child.cmdline())
                    if role is not None:
                        families.setdefault(role, []).append(child)
        self._add(families)

    def read_trees(self, pids: dict[str, int]) -> None:
        """Add one point for processes named by role, each with all its descendants (a tool
        that runs its work in child processes or threads)."""
        families: dict[str, list[psutil.Process]] = {}
        for role, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                families[role] = [root, *root.children(recursive=True)]
        self._add(families)

    def _add(self, families: dict[str, list[psutil.Process]]) -> None:
        totals: dict[str, float] = {}
        waits: dict[str, float] = {}
        for role, processes in families.items():
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    totals[role] = totals.get(role, 0.0) + _cpu(process)
                    waits[role] = waits.get(role, 0.0) + run_queue_wait(process.pid)
        busy = psutil.cpu_times()
        totals[MACHINE] = float(busy.user + busy.nice + busy.system + busy.irq + busy.softirq
                                + getattr(busy, "steal", 0.0))
        now = time.time()
        self.points.append((now, totals))
        self.waits.append((now, waits))

    def cores(self, start: float, end: float) -> dict[str, float | None]:
        """Each role's CPU over ``[start, end]`` (wall times) in cores (1.0: one core busy
        all the time), between the first and the last point inside the window that saw it;
        None where fewer than two did (a process that ended early is measured while alive)."""
        return _rates(self.points, start, end, ROLES)

    def others(self, start: float, end: float) -> float | None:
        """Cores the machine spent on processes other than this run's over the window."""
        rates = _rates(self.points, start, end, (*ROLES, MACHINE))
        machine = rates[MACHINE]
        if machine is None:
            return None
        return round(max(0.0, machine - sum(rates[role] or 0.0 for role in ROLES)), 3)

    def waited(self, start: float, end: float) -> dict[str, float | None]:
        """Each role's time waiting for a core over ``[start, end]``, per second of the
        window (0.5: its threads together waited half the time)."""
        return _rates(self.waits, start, end, ROLES)


def _rates(points: list[tuple[float, dict[str, float]]], start: float, end: float,
           keys: tuple[str, ...]) -> dict[str, float | None]:
    """Per key, the growth of its counter per second between the first and the last point
    inside ``[start, end]`` that have it (None with fewer than two)."""
    figures: dict[str, float | None] = {}
    for role in keys:
        seen = [(when, totals[role]) for when, totals in points
                if start <= when <= end and role in totals]
        if len(seen) < 2 or seen[-1][0] - seen[0][0] <= 0:
            figures[role] = None
            continue
        figures[role] = round((seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]), 3)
    return figures


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_queue_wait(pid: int) -> float:
    """Seconds the threads of ``pid`` have waited to run so far (0 where Linux's schedstat
    cannot be read)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{pid}/task/{task}/schedstat") as file:
                    total += int(file.read().split()[1])
    return total / 1e9


@contextlib.contextmanager
def sampling(split: CpuSplit, interval_s: float = INTERVAL_S) -> Iterator[CpuSplit]:
    """Read ``split`` every ``interval_s`` in a background thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            split.read()
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, name="cpu-split", daemon=True)
    thread.start()
    try:
        yield split
    finally:
        stop.set()
        thread.join(timeout=5)
