"""Locust as a child process of the harness, with the project's locustfile.py.

The harness runs the very locustfile a person runs by hand; only the command
line differs. Locust's own exit code is not the verdict: the harness judges
from the samples file, so ``--exit-code-on-error 0`` keeps failures from
looking like a crash.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .processes import ChildProcess
from .target import PROJECT_ROOT

__all__ = ["LocustPlan", "locust_process"]

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
    workers: int = 0  # 0: one local process; N > 0: master plus N workers

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
            "--users", str(self.users),
            "--spawn-rate", f"{self.spawn_rate:g}",
            "--exit-code-on-error", "0",
            "--stop-timeout", "0",
            "--loglevel", "WARNING",
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


def locust_process(plan: LocustPlan, log_path: Path) -> ChildProcess:
    """A not-yet-started Locust child running ``plan``."""
    argv = [sys.executable, "-m", "locust", *plan.arguments()]
    return ChildProcess("locust", argv, log_path, cwd=PROJECT_ROOT)
