"""Pointing the harness at a server it did not start, and at a running Toxiproxy.

The reference server, started by the test, stands in for "your own server";
the harness only gets its URL and where its lock reports are. go-deadlock's
text output is read as it is, so a Go service can be tested unchanged.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.rig.launched import ReferenceTarget
from harness.target import (
    PROJECT_ROOT,
    TargetInfo,
    TargetUnreachable,
    probe_target,
)
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.server import ToxiproxyServer
from tests.test_chaos_run import assert_nothing_left, write_scenario

pytestmark = pytest.mark.integration

GO_DEADLOCK_REPORT = """POTENTIAL DEADLOCK:
Previous place where the lock was grabbed
goroutine 38 lock 0xc000067810
main.go:79 main.(*Room).Broadcast { r.membersMx.RLock() } <<<<<
main.go:60 main.(*Server).handle { room.Broadcast(msg) }

Have been trying to lock it again for more than 100ms
goroutine 97 lock 0xc000067810
main.go:107 main.(*Room).Add { r.membersMx.Lock() } <<<<<
main.go:55 main.(*Server).join { room.Add(m) }

Here is what goroutine 38 doing now
goroutine 38 [select]:
main.(*member).Send(...)
"""


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[TargetInfo]:
    with ReferenceTarget("fixed", tmp_path / "own-server") as info:
        yield info


def run_against(info: TargetInfo, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(write_scenario(tmp_path, fault="4s")),
         "--target-url", info.url, "--results-dir", str(tmp_path / "results"), "--quiet",
         *extra],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    [result_file] = (tmp_path / "results").glob("**/result.json")
    return completed.returncode, json.loads(result_file.read_text())


def test_go_deadlock_text_reports_during_the_run_fail_it(
    own_server: TargetInfo, tmp_path: Path
) -> None:
    reports = tmp_path / "go-service.log"
    reports.write_text("2026/11/28 10:00:00 service started\n")

    def go_service_logs_a_deadlock() -> None:
        time.sleep(8)  # well into the run
        with reports.open("a") as log:
            log.write(GO_DEADLOCK_REPORT)

    writer = threading.Thread(target=go_service_logs_a_deadlock)
    writer.start()
    code, result = run_against(own_server, tmp_path, "--lock-reports", str(reports))
    writer.join()
    assert code == 1, result["verdict"]
    [report] = result["lock_reports"]
    assert report["kind"] == "wait" and report["lock"] == "0xc000067810"
    assert "Broadcast" in report["holders"][0]["acquire_site"]


def test_reports_from_before_the_run_do_not_count(own_server: TargetInfo, tmp_path: Path) -> None:
    reports = tmp_path / "old.log"
    reports.write_text(GO_DEADLOCK_REPORT)  # yesterday's deadlock, not this run's
    code, result = run_against(own_server, tmp_path, "--lock-reports", str(reports))
    assert code == 0, result["verdict"]
    assert result["lock_reports"] == []


def test_unreachable_lock_report_url_is_an_error_not_a_pass(
    own_server: TargetInfo, tmp_path: Path
) -> None:
    code, result = run_against(own_server, tmp_path,
                               "--lock-reports", "http://127.0.0.1:9/debug/locks")
    assert code == 2
    assert "lock reports at http://127.0.0.1:9/debug/locks" in result["verdict"]["message"]


def test_a_running_toxiproxy_is_used_and_left_clean(own_server: TargetInfo, tmp_path: Path) -> None:
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as toxiproxy:
        client = ToxiproxyClient(toxiproxy.url)
        client.create_proxy("someone-elses", f"127.0.0.1:{own_server.port}")
        reports = tmp_path / "locks.log"
        reports.write_text("")
        code, result = run_against(own_server, tmp_path, "--toxiproxy-url", toxiproxy.url,
                                   "--lock-reports", str(reports))
        assert code == 0, result["verdict"]
        assert result["extra"]["toxiproxy_url"] == toxiproxy.url
        assert "toxiproxy" not in result["extra"]["pids"]
        # Our proxies are gone; the one we did not create is untouched.
        assert list(client.list_proxies()) == ["someone-elses"]


def test_no_lock_report_source_is_an_error_not_a_pass(
    own_server: TargetInfo, tmp_path: Path
) -> None:
    """Without --lock-reports nothing can be counted: lock_reports == 0 must not hold."""
    code, result = run_against(own_server, tmp_path)
    assert code == 2, result["verdict"]
    assert "no lock report source" in result["verdict"]["message"]


def test_unreachable_target_is_an_error_naming_the_url_within_seconds(tmp_path: Path) -> None:
    """Nothing listens on port 1: the run must not start Locust and judge failed joins."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(write_scenario(tmp_path, fault="4s")),
         "--target-url", "ws://127.0.0.1:1/ws", "--results-dir", str(tmp_path / "results"),
         "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 2, completed.stdout + completed.stderr
    [result_file] = (tmp_path / "results").glob("**/result.json")
    result = json.loads(result_file.read_text())
    assert result["verdict"]["status"] == "ERROR"
    assert "target ws://127.0.0.1:1/ws is unreachable" in result["verdict"]["message"]
    assert "locust" not in result["extra"]["pids"]  # judged before any load started
    assert "Warning" not in completed.stderr, completed.stderr  # no chart noise either
    assert elapsed < 20, f"took {elapsed:.1f} s; the 8 s scenario must not have run"
    assert_nothing_left(result, tmp_path)


@pytest.mark.parametrize(("url", "expected"), [
    ("ws://127.0.0.1:0/ws", "port '0'"),
    ("", "--target-url is empty"),
    ("ws://127.0.0.1:99999/ws", "port '99999'"),
    ("ws://127.0.0.1:abc/ws", "port 'abc'"),
    ("ws://127.0.0.1:-1/ws", "port '-1'"),
    ("ws://127.0.0.1/ws", "has no port"),
    ("http://127.0.0.1:9000/ws", "must look like ws://127.0.0.1:PORT/ws"),
    ("ws://10.1.2.3:9000/ws", "--allow-host 10.1.2.3"),
])
def test_bad_target_url_is_one_line_naming_the_flag(tmp_path: Path, url: str,
                                                     expected: str) -> None:
    line = refusal(tmp_path, "--target-url", url)
    assert expected in line, line
    assert not (tmp_path / "results").exists()  # refused before anything started


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:x", "",
                                 "http://127.0.0.1"])
def test_bad_toxiproxy_url_is_one_line_naming_the_flag(tmp_path: Path, url: str) -> None:
    refusal(tmp_path, "--toxiproxy-url", url)


def refusal(tmp_path: Path, flag: str, url: str) -> str:
    """``harness run`` with ``flag url``: exit code 2 and one line naming ``flag``, returned."""
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(write_scenario(tmp_path)),
         flag, url, "--results-dir", str(tmp_path / "results"), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"harness: error: {flag}"), line
    return line


def test_a_target_that_never_answers_the_handshake_is_refused_within_seconds() -> None:
    """Accepts TCP (the kernel's backlog) but never speaks: the probe's deadline ends it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/ws"
        started = time.monotonic()
        with pytest.raises(TargetUnreachable, match=f"target {url} is unreachable"):
            probe_target(url, timeout=1.0)
        assert time.monotonic() - started < 10


def test_a_server_that_is_not_websocket_is_refused(tmp_path: Path) -> None:
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as toxiproxy:  # plain HTTP, 404 on /ws
        url = toxiproxy.url.replace("http://", "ws://") + "/ws"
        with pytest.raises(TargetUnreachable, match=r"refused the WebSocket handshake \(HTTP 4"):
            probe_target(url)


def test_the_reference_server_passes_the_probe(own_server: TargetInfo) -> None:
    probe_target(own_server.url)
