"""``python -m harness ui`` as a child process, as a person would run it: :class:`UiCommand`.

The web UI's tests (tests/test_webui.py) and the reconnect fault's (tests/test_reconnect.py)
start it through conftest's ``ui_command`` fixture, with :data:`UI_SCENARIO`.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.bench.short_scenario import short_slow_member
from harness.target import PROJECT_ROOT

__all__ = ["UI_SCENARIO", "UiCommand"]

UI_SCENARIO = short_slow_member(
    "ui-short",
    description="A small room for the web UI test.",
    target="""
# Waits: above the scheduling hiccups of a busy 2-core machine, below the 500 ms of latency.
# Holds are what a stalled machine shows first, and the bug shows as waits: holds are off.
send_timeout = "10s"
lock_wait_threshold = "300ms"
lock_hold_threshold = "5s"
# This test shows reports following the latency set in the tab; the held-across-await
# detector reports naive's bug at any latency, so it is off here.
lock_suspend_threshold = "0s"
""",
    fault="5s",
    thresholds="""
min_samples = 10
checks = ["join[fast].p99 < 250ms", "lock_reports == 0", "errors.ratio < 0.05"]
""",
)


class UiCommand:
    """``python -m harness ui`` as a child process, as a person would run it."""

    def __init__(self, tmp_path: Path, mode: str, port: int = 0) -> None:
        scenario = tmp_path / "ui.toml"
        scenario.write_text(UI_SCENARIO)
        self.results = tmp_path / "results"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness", "ui", str(scenario), "--mode", mode,
             "--port", str(port), "--results-dir", str(self.results)],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""
        self.descendants: list[psutil.Process] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_url(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            match = re.search(r"Locust web UI: (http://127\.0\.0\.1:\d+)", line)
            if match:
                self.url = match[1]
                self.descendants = psutil.Process(self.process.pid).children(recursive=True)
                return self.url
        pytest.fail(f"harness ui printed no address:\n{''.join(self.output)}")

    def session(self) -> dict[str, Any]:
        [path] = self.results.glob("*/ui.json")
        return json.loads(path.read_text())

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum``; return the exit code once it has exited."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"harness ui did not stop within 60 s of {signal.Signals(signum).name}")

    def assert_nothing_left(self) -> None:
        pids = self.session()["pids"]
        assert {"toxiproxy", "target", "locust"} <= set(pids)
        deadline = time.monotonic() + 5
        alive = [child for child in self.descendants if _running(child)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [child for child in alive if _running(child)]
        assert not alive, f"still running: {[child.cmdline() for child in alive]}"
        for name, recorded in pids.items():
            for pid in recorded if isinstance(recorded, list) else [recorded]:  # workers: a list
                assert not psutil.pid_exists(pid) or not _running(psutil.Process(pid)), name
        leftovers = subprocess.run(["pgrep", "-f", str(self.results)], capture_output=True,
                                   text=True)
        assert leftovers.stdout.strip() == "", f"processes left: {leftovers.stdout}"
        with socket.socket() as probe:  # the web UI's port is closed
            assert probe.connect_ex(("127.0.0.1", int(self.url.rpartition(":")[2]))) != 0

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
