"""Locust as a child process of the harness, with the project's locustfile.py.

The harness runs the very locustfile a person runs by hand; only the command
line differs. Locust's own exit code is not the verdict: the harness judges
from the samples file, so ``--exit-code-on-error 0`` keeps failures from
looking like a crash.
"""

from __future__ import annotations

import math
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.net.tls import TlsOptions
from harness.processes import ChildProcess
from harness.target import PROJECT_ROOT

__all__ = ["LocustPlan", "free_port", "locust_process", "worker_processes"]

LOCUSTFILE = PROJECT_ROOT / "locustfile.py"


@dataclass(frozen=True)
class LocustPlan:
    """What Locust should do in one run."""

    users: int
    spawn_rate: float
    run_time_s: float
    room_url: str
    slow_urls: list[str]
    rooms: int
    broadcast_interval_s: float
    stay_s: float
    away_s: float
    samples_file: Path
    histograms_file: Path
    lock_reports: str
    csv_prefix: Path
    html_report: Path
    headless: bool = True
    web_port: int = 8089
    workers: int = 0  # local worker processes; 0 with no remote workers: one local process
    remote_workers: int = 0  # workers started elsewhere that connect to this master
    master_bind_host: str = "127.0.0.1"
    master_port: int = 5557
    lag_file: Path | None = None  # where the master writes the processes' lag windows
    body_size: int = 0  # bytes of random text per broadcast body; 0: "hello"
    op_timeout_s: float = 5.0  # an operation waits this long for its reply, then fails
    control_file: Path | None = None  # member fault commands from the harness
    member_faults_file: Path | None = None  # what members measure while acting faults out
    target_url: str = ""  # the target's own URL: members keep its host for TLS and Host
    tls: TlsOptions = TlsOptions()
    protocol: str = ""  # the scenario's [protocol] table as JSON; "" is roomchaos
    push: str = ""  # the scenario's [push] table as JSON; "": no server pushes are timed
    origin: str = ""  # the Origin header members send; "": the target's own

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0

    def arguments(self) -> list[str]:
        """Locust arguments shared by the local runner and a master."""
        args = [
            "-f", str(LOCUSTFILE),
            "--room-url", self.room_url,
            "--slow-urls", ",".join(self.slow_urls),
            "--rooms", str(self.rooms),
            "--broadcast-interval", f"{self.broadcast_interval_s:g}",
            "--stay", f"{self.stay_s:g}",
            "--away", f"{self.away_s:g}",
            "--samples-file", str(self.samples_file),
            "--histograms-file", str(self.histograms_file),
            "--lock-reports", self.lock_reports,
            "--lag-file", str(self.lag_file or ""),
            "--body-size", str(self.body_size),
            "--op-timeout", f"{self.op_timeout_s:g}",
            "--control-file", str(self.control_file or ""),
            "--member-faults-file", str(self.member_faults_file or ""),
            "--target-url", self.target_url,
            *self.tls.arguments(),
            "--protocol", self.protocol,
            "--push", self.push,
            "--origin", self.origin,
            "--users", str(self.users),
            "--spawn-rate", f"{self.spawn_rate:g}",
            "--exit-code-on-error", "0",
            "--stop-timeout", "0",
            "--loglevel", "WARNING",
        ]
        if self.distributed:
            args += [
                "--master", "--expect-workers", str(self.workers + self.remote_workers),
                "--master-bind-host", self.master_bind_host,
                "--master-bind-port", str(self.master_port),
            ]
        if self.headless:
            args += [
                "--headless",
                "--run-time", f"{max(1, math.ceil(self.run_time_s))}s",
                "--csv", str(self.csv_prefix),
                "--html", str(self.html_report),
                "--only-summary",
            ]
        else:
            args += ["--web-host", "127.0.0.1", "--web-port", str(self.web_port)]
        return args


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the master binds it moments later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def locust_process(plan: LocustPlan, log_path: Path,
                   extra_arguments: Sequence[str] = ()) -> ChildProcess:
    """A not-yet-started Locust child running ``plan`` (the master when distributed).

    ``extra_arguments`` go after the plan's own (the web UI's Chaos tab options).
    """
    argv = [sys.executable, "-m", "locust", *plan.arguments(), *extra_arguments]
    return ChildProcess("locust", argv, log_path, cwd=PROJECT_ROOT)


def worker_processes(plan: LocustPlan, log_dir: Path) -> list[ChildProcess]:
    """Not-yet-started local workers; they get the custom options from the master."""
    wildcard = plan.master_bind_host in ("", "*", "0.0.0.0", "::")
    connect_host = "127.0.0.1" if wildcard else plan.master_bind_host
    workers = []
    for index in range(plan.workers):
        argv = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", connect_host, "--master-port", str(plan.master_port),
            "--loglevel", "WARNING",
        ]
        workers.append(ChildProcess(f"locust worker {index}", argv,
                                    log_dir / f"locust-worker-{index}.log", cwd=PROJECT_ROOT))
    return workers
