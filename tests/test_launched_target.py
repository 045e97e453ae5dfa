"""Targets the harness launches (``--target-cmd``, ``[target] cmd``): real processes, loopback.

The launched command (tests/launched_server.py) is the reference server plus a grandchild
``sleep``, so each test can check with psutil that the command and its children are gone
afterwards: on a normal end, on a crash mid-run, and when its port never opens.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.bench.short_scenario import short_slow_member
from harness.rig import launched as launched_module
from harness.rig.launched import (
    DEFAULT_READY_TIMEOUT,
    LaunchedTarget,
    LaunchPlan,
    ReferenceTarget,
    parse_command,
)
from harness.target import PROJECT_ROOT
from tests.test_chaos_run import SHORT_TARGET, SHORT_THRESHOLDS, harness, only_result

pytestmark = pytest.mark.integration

SERVER = f"{sys.executable} -m tests.launched_server"


def scenario_with(directory: Path, target_lines: str = "", fault: str = "3s") -> Path:
    path = directory / "launched.toml"
    path.write_text(short_slow_member(
        "short-slow-member", target=f"{target_lines}\n{SHORT_TARGET}",
        thresholds=SHORT_THRESHOLDS, members=8, warmup="3s", fault=fault))
    return path


def run_dir(results: Path) -> Path:
    return next(results.glob("**/result.json")).parent


def launched_pids(result: dict[str, Any], results: Path) -> list[int]:
    """The launched command's pid (from result.json) and its grandchild's (from its log)."""
    return [result["extra"]["pids"]["target"], grandchild_pid(run_dir(results))]


def grandchild_pid(folder: Path) -> int:
    """The pid tests/launched_server.py wrote to ``target.log`` in ``folder``."""
    log = (folder / "target.log").read_text()
    [grandchild] = re.findall(r"^grandchild (\d+)$", log, re.MULTILINE)
    return int(grandchild)


def assert_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Each pid has exited (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            assert time.monotonic() < deadline, f"pid {pid} is still running"
            time.sleep(0.1)


def test_scenario_command_is_the_whole_invocation_and_leaves_nothing(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, f'cmd = "{SERVER} -- --mode fixed --port {{port}}"\n'
                                       'lock_reports = "http://127.0.0.1:{port}/debug/locks"')
    completed = harness("run", str(scenario), results=tmp_path)
    result = only_result(tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert result["verdict"]["status"] == "PASS"
    assert result["extra"]["target_command"][:3] == [sys.executable, "-m", "tests.launched_server"]
    port = int(result["extra"]["target_command"][-1])
    assert result["extra"]["target_url"] == f"ws://127.0.0.1:{port}/ws"
    assert result["extra"]["lock_reports_source"] == f"http://127.0.0.1:{port}/debug/locks"
    assert "listening on ws://127.0.0.1" in (run_dir(tmp_path) / "target.log").read_text()
    assert_gone(launched_pids(result, tmp_path))


def test_a_crash_mid_run_is_an_error_naming_the_command(tmp_path: Path) -> None:
    command = f"{SERVER} --die-after 6 -- --mode fixed --port {{port}}"
    completed = harness("run", str(scenario_with(tmp_path, fault="8s")), "--target-cmd", command,
                        results=tmp_path)
    result = only_result(tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    message = result["verdict"]["message"]
    assert result["verdict"]["status"] == "ERROR"
    assert f"target `{command}` exited with code 3" in message, message
    assert "crashing on purpose" in message and "s into the run" in message, message
    assert_gone(launched_pids(result, tmp_path))


def test_a_port_that_never_opens_is_an_error_within_the_timeout(tmp_path: Path) -> None:
    command = f"{SERVER} --never-listen -- --port {{port}}"
    started = time.monotonic()
    completed = harness("run", str(scenario_with(tmp_path)), "--target-cmd", command,
                        "--target-ready-timeout", "3s", results=tmp_path)
    elapsed = time.monotonic() - started
    result = only_result(tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    message = result["verdict"]["message"]
    assert f"target `{command}` did not accept connections on port" in message, message
    assert "within 3 s" in message and "this one never listens" in message, message
    # 3 s of waiting; the rest is Python, Toxiproxy and the report on a loaded 2-core machine.
    assert elapsed < 3 + 25, elapsed
    assert "locust" not in result["extra"]["pids"]  # nothing started after the target
    assert_gone(launched_pids(result, tmp_path))


def test_ctrl_c_while_waiting_for_the_port_stops_the_command(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario_with(tmp_path)), "--quiet",
         "--target-cmd", f"{SERVER} --never-listen -- --port {{port}}",
         "--target-ready-timeout", "120s", "--results-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while "never listens" not in "".join(
                log.read_text() for log in tmp_path.glob("*/target.log")):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGINT)
        output = run.communicate(timeout=60)[0]
    assert run.returncode == 130, output
    result = only_result(tmp_path)
    assert "interrupted by SIGINT" in result["verdict"]["message"]
    assert_gone(launched_pids(result, tmp_path))


def test_ui_launches_the_command_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    ui = subprocess.Popen(
        [sys.executable, "-m", "harness", "ui", str(scenario_with(tmp_path)), "--port", "0",
         "--target-cmd", f"{SERVER} -- --mode fixed --port {{port}}",
         "--results-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (sessions := list(tmp_path.glob("*/ui.json"))):
            assert ui.poll() is None and time.monotonic() < deadline, ui.communicate()[0]
            time.sleep(0.2)
        session = json.loads(sessions[0].read_text())
        pid = session["pids"]["target"]
        assert psutil.Process(pid).cmdline()[1:3] == ["-m", "tests.launched_server"]
        assert session["target_url"].startswith("ws://127.0.0.1:")
    finally:
        ui.send_signal(signal.SIGINT)
        output = ui.communicate(timeout=60)[0]
    assert ui.returncode == 130, output
    assert_gone([pid, grandchild_pid(sessions[0].parent)])


def test_a_readiness_url_is_awaited(tmp_path: Path) -> None:
    completed = harness(
        "run", str(scenario_with(tmp_path)), "--target-cmd",
        f"{SERVER} -- --mode fixed --port {{port}}",
        "--target-ready", "http://127.0.0.1:{port}/no-such-page", "--target-ready-timeout", "2s",
        results=tmp_path)
    result = only_result(tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "did not answer 200 at http://127.0.0.1:" in result["verdict"]["message"]
    assert_gone(launched_pids(result, tmp_path))


class _Garbage(socketserver.BaseRequestHandler):
    """Answers every connection with a line that is not HTTP, then closes it."""

    def handle(self) -> None:
        self.request.sendall(b"garbage, not HTTP\r\n\r\n")


@contextmanager
def _garbage_server() -> Iterator[int]:
    """A loopback port that answers non-HTTP; yields the port."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Garbage) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join(5)


def test_a_readiness_url_that_answers_non_http_is_an_error_within_the_timeout(
        tmp_path: Path) -> None:
    with _garbage_server() as port:
        started = time.monotonic()
        completed = harness(
            "run", str(scenario_with(tmp_path)), "--target-cmd",
            f"{SERVER} -- --mode fixed --port {{port}}",
            "--target-ready", f"http://127.0.0.1:{port}/ready", "--target-ready-timeout", "2s",
            results=tmp_path)
        elapsed = time.monotonic() - started
    result = only_result(tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    assert result["verdict"]["status"] == "ERROR"
    message = result["verdict"]["message"]
    assert f"did not answer 200 at http://127.0.0.1:{port}/ready within 2 s" in message, message
    # 2 s of waiting; the rest is Python, Toxiproxy and the report on a loaded 2-core machine.
    assert elapsed < 2 + 25, elapsed
    assert "locust" not in result["extra"]["pids"]
    assert_gone(launched_pids(result, tmp_path))


@pytest.mark.parametrize(("args", "expected"), [
    (["--target-cmd", "python -m myserver --port 9000"], "has no {port}"),
    (["--target-cmd", "python -c 'unbalanced {port}"], "check its quotes"),
    (["--target-cmd", ""], "--target-cmd is empty"),
    (["--target-cmd", "srv {port}", "--target-url", "ws://127.0.0.1:9000/ws"],
     "--target-url 'ws://127.0.0.1:9000/ws' has no {port}"),
    (["--target-cmd", "srv {port}", "--target-url", "ws://127.0.0.1:80/{port}"],
     "must have {port} as its port"),
    (["--target-cmd", "srv {port}", "--target-ready-timeout", "0s"], "0 < seconds"),
    (["--target-cmd", "srv {port}", "--target-ready", "ftp://127.0.0.1:{port}/"],
     "http:// or https://"),
    (["--target-cmd", "srv {port}", "--target-ready", "http://10.9.9.9:{port}/"],
     "--allow-host 10.9.9.9"),
    (["--target-ready", "http://127.0.0.1:1/"], "--target-ready goes with --target-cmd"),
    (["--target-url", "ws://127.0.0.1:{port}/ws"], "only a server the harness starts"),
])
def test_bad_launch_flags_are_one_line_before_anything_starts(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    assert_refused(scenario_with(tmp_path), args, expected)


def assert_refused(scenario: Path, args: list[str], expected: str) -> None:
    """``run SCENARIO ARGS`` exits 2 with one line holding ``expected``, starting nothing."""
    results = scenario.parent / "refused"
    completed = harness("run", str(scenario), *args, results=results, timeout=30)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert expected in line, line
    assert not results.exists()


def test_a_bad_scenario_command_names_the_file_and_key(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, 'cmd = "python -m myserver"')
    completed = harness("run", str(scenario), results=tmp_path / "r", timeout=30)
    assert completed.returncode == 2
    [line] = completed.stderr.strip().splitlines()
    assert f"{scenario}: [target] cmd 'python -m myserver' has no {{port}}" in line, line
    completed = harness("matrix", str(scenario_with(tmp_path, 'cmd = "srv {port}"')),
                        results=tmp_path / "r", timeout=30)
    assert completed.returncode == 2 and "use `run` for this scenario" in completed.stderr


def test_the_command_is_split_like_a_shell_line_but_run_without_one() -> None:
    assert parse_command("srv --name 'a b' --port {port} >out") == [
        "srv", "--name", "a b", "--port", "{port}", ">out"]
    plan = LaunchPlan.checked("srv {port}", None, None, None)
    assert plan.url == "ws://127.0.0.1:{port}/ws" and plan.ready_timeout_s == DEFAULT_READY_TIMEOUT
    with pytest.raises(ValueError, match="no {port}"):
        parse_command("srv")


_TAKEN_ONCE = """
import pathlib, socket, sys, time
marker, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
if not marker.exists():
    marker.write_text(str(port))
    sys.exit("OSError: [Errno 98] address already in use")
with socket.create_server(("127.0.0.1", port)) as listener:
    time.sleep(60)
"""


def test_a_command_whose_port_was_taken_starts_again_on_another(tmp_path: Path) -> None:
    script = tmp_path / "taken_once.py"
    script.write_text(_TAKEN_ONCE)
    marker = tmp_path / "first-port"
    plan = LaunchPlan.checked(f"{sys.executable} {script} {marker} {{port}}", None, None, 30)
    target = LaunchedTarget(plan, tmp_path)
    with target as info:
        assert info.port != int(marker.read_text())  # the first attempt's port
        assert info.url == f"ws://127.0.0.1:{info.port}/ws" and target.port == info.port
        assert "address already in use" in (tmp_path / "target.log").read_text()
        pid = target.pid
        assert pid is not None and psutil.pid_exists(pid)
    assert_gone([pid])


def test_a_bundled_server_is_a_launched_target_on_its_healthz(tmp_path: Path) -> None:
    target = ReferenceTarget("fixed", tmp_path, server="socketio")
    assert isinstance(target, LaunchedTarget)
    assert target.plan.ready_url == "http://127.0.0.1:{port}/healthz"
    with target as info:
        assert info.url == (f"ws://127.0.0.1:{info.port}/socket.io/?EIO=4&transport=websocket")
        pid = target.pid
        assert pid is not None
    assert_gone([pid])


def test_a_bundled_server_whose_port_was_taken_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real roomserver's own message for a taken port is recognised: the first pick is a
    port someone listens on (the picker is faked; the server and its message are real)."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        ports = iter([taken.getsockname()[1]])
        real_free_port = launched_module.free_port
        monkeypatch.setattr(launched_module, "free_port", lambda: next(ports, None)
                            or real_free_port())
        with ReferenceTarget("fixed", tmp_path) as info:
            assert info.port != taken.getsockname()[1]
            assert "address already in use" in (tmp_path / "target.log").read_text()
