"""The reference server's command line: start line, port errors, signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import ChildProcess
from harness.target import PROJECT_ROOT

pytestmark = pytest.mark.integration


def server(*args: str) -> list[str]:
    return [sys.executable, "-m", "targets.roomserver", *args]


def test_port_in_use_gives_a_clear_error_not_a_hang() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = subprocess.run(server("--port", str(port)), cwd=PROJECT_ROOT,
                                   capture_output=True, text=True, timeout=20)
    assert completed.returncode == 2
    [line] = completed.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port 0" in line


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_shuts_down_cleanly(tmp_path: Path, signum: int) -> None:
    child = ChildProcess("target", server("--mode", "fixed", "--port", "0"),
                         tmp_path / "server.log", cwd=PROJECT_ROOT)
    child.start()
    match = child.wait_for_line(r"roomserver \(fixed\) listening on ws://127\.0\.0\.1:(\d+)/ws",
                                timeout=15)
    assert int(match[1]) > 0
    child.signal(signum)
    assert child.popen is not None
    assert child.popen.wait(10) == 0
    assert "Traceback" not in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("args", [["--mode", "clever"], ["--port", "70000"],
                                  ["--send-timeout", "-1"], ["--outbox-size", "0"],
                                  ["--max-unsent", "0"], ["--max-unsent", "4MiB"]])
def test_bad_flags_are_usage_errors(args: list[str]) -> None:
    completed = subprocess.run(server(*args), cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=20)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert "error:" in completed.stderr


def test_help_lists_the_flags() -> None:
    completed = subprocess.run(server("--help"), cwd=PROJECT_ROOT, capture_output=True,
                               text=True, timeout=20)
    for flag in ("--mode", "--lock-wait-threshold", "--lock-hold-threshold",
                 "--lock-report-file", "--send-timeout", "--max-unsent"):
        assert flag in completed.stdout


def test_the_harness_knows_every_mode_of_the_reference_server() -> None:
    """harness.target.MODES is the one list the harness uses; it must match the server's."""
    from harness.target import EXPECTED_VERDICTS, MODES
    from targets.roomserver.modes import MODES as SERVER_MODES

    assert sorted(MODES) == sorted(SERVER_MODES)
    assert list(EXPECTED_VERDICTS) == list(MODES)
