"""End to end: real toxiproxy-server, the real room server, real Locust.

Runs are short (a few seconds of warm-up and fault) but real. Each test runs
the harness as a separate process, the way CI does, and afterwards checks that
none of the processes it started is still alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.bench.short_scenario import short_slow_member
from harness.target import PROJECT_ROOT

pytestmark = pytest.mark.integration

SHORT_TARGET = """
send_timeout = "10s"
lock_wait_threshold = "100ms"
lock_hold_threshold = "250ms"
"""
SHORT_THRESHOLDS = """
min_samples = 10
checks = [
  "join[fast].p99 < 250ms",
  "lock_reports == 0",
  "errors.ratio < 0.05",
]
"""


def write_scenario(directory: Path, fault: str = "7s") -> Path:
    path = directory / "short.toml"
    path.write_text(short_slow_member(
        "short-slow-member", description="The slow-member case, shortened for tests.",
        target=SHORT_TARGET, thresholds=SHORT_THRESHOLDS, members=8, warmup="3s", fault=fault))
    return path


def harness(*args: str, results: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args, "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
    )


def only_result(results: Path) -> dict[str, Any]:
    [result_file] = results.glob("**/result.json")
    return json.loads(result_file.read_text())


def assert_nothing_left(result: dict[str, Any], results: Path) -> None:
    pids = result["extra"]["pids"]
    assert pids, "the run recorded no child processes"
    for name, recorded in pids.items():
        for pid in recorded if isinstance(recorded, list) else [recorded]:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
                pytest.fail(f"{name} (pid {pid}) is still running")
    leftovers = subprocess.run(["pgrep", "-f", str(results)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left: {leftovers.stdout}"


def join_fast(result: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``measured[key].join.fast`` of a result.json (``latency_ms`` or its corrected twin)."""
    return ((result["measured"].get(key) or {}).get("join") or {}).get("fast")


def assert_corrected_join_latency(result: dict[str, Any]) -> None:
    """The corrected join[fast] latency exists and is at least the raw one."""
    raw, corrected = join_fast(result, "latency_ms"), join_fast(result, "latency_ms_corrected")
    assert raw is not None and raw["samples"] > 0, result["measured"].get("latency_ms")
    assert corrected is not None, "no corrected join latency in result.json"
    assert corrected["samples"] >= raw["samples"]
    for figure in ("p99_ms", "max_ms"):
        assert corrected[figure] >= raw[figure], (figure, corrected, raw)


def assert_clean_locust_log(run_dir: Path) -> None:
    """Locust stopped cleanly: its report is there and no member left a traceback (issue 19:
    a member blocked in a send got the KeyboardInterrupt of the harness's SIGINT)."""
    log = (run_dir / "locust.log").read_text()
    assert "Aggregated" in log and (run_dir / "locust.html").is_file()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[:3000]


def test_naive_fails_with_slow_joins_and_lock_reports(tmp_path: Path) -> None:
    completed = harness("run", str(write_scenario(tmp_path)), "--mode", "naive", results=tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    assert result["verdict"]["status"] == "FAIL"
    checks = {check["check"]: check for check in result["thresholds"]}
    join = checks["join[fast].p99 < 250ms"]
    assert join["status"] == "broken" and join["measured"] > 250
    assert checks["lock_reports == 0"]["status"] == "broken"
    assert len(result["lock_reports"]) >= 1
    assert "join[fast].p99" in result["verdict"]["message"]
    assert_corrected_join_latency(result)
    run_dir = next(tmp_path.glob("**/result.json")).parent
    for name in ("junit.xml", "locust_stats.csv", "locust.html", "samples.jsonl"):
        assert (run_dir / name).is_file(), name
    assert_clean_locust_log(run_dir)
    assert_nothing_left(result, tmp_path)


def test_fixed_passes(tmp_path: Path) -> None:
    completed = harness("run", str(write_scenario(tmp_path)), "--mode", "fixed", results=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    assert result["verdict"]["status"] == "PASS"
    assert result["lock_reports"] == []
    assert "PASS" in completed.stdout
    assert_corrected_join_latency(result)
    assert_clean_locust_log(next(tmp_path.glob("**/result.json")).parent)
    assert_nothing_left(result, tmp_path)


def _start_harness(tmp_path: Path, mode: str, fault: str = "20s") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(write_scenario(tmp_path, fault)),
         "--mode", mode, "--results-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_for_load(tmp_path: Path, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        samples = list(tmp_path.glob("**/samples.jsonl"))
        if samples and samples[0].stat().st_size > 0:
            return
        time.sleep(0.2)
    pytest.fail("the run never produced samples")


def test_killing_the_target_gives_error(tmp_path: Path) -> None:
    process = _start_harness(tmp_path, "fixed")
    _wait_for_load(tmp_path)
    target_log = next(tmp_path.glob("**/target.log"))
    found = subprocess.run(
        ["pgrep", "-f", f"targets.roomserver .*{target_log.parent / 'target-locks.jsonl'}"],
        capture_output=True, text=True)
    [target_pid] = [int(pid) for pid in found.stdout.split()]
    os.kill(target_pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    result = only_result(tmp_path)
    assert result["verdict"]["status"] == "ERROR"
    assert "target was killed by signal 9" in result["verdict"]["message"]
    assert_nothing_left(result, tmp_path)


@pytest.mark.parametrize(("signum", "code"),
                         [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_stops_everything(tmp_path: Path, signum: int, code: int) -> None:
    process = _start_harness(tmp_path, "naive")
    _wait_for_load(tmp_path)
    time.sleep(1.0)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == code, output
    result = only_result(tmp_path)
    assert result["verdict"]["status"] == "ERROR"
    assert signal.Signals(signum).name in result["verdict"]["message"]
    assert_nothing_left(result, tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name = 'x'\n[load]\nmembrs = 3\n", "membrs"),
        ("name = 'x'\n[timing]\nwarmup = 'soon'\n", "warmup"),
        ("name = 'x'\n[load]\nmembers = 2\nslow_members = 5\n", "slow_members"),
        ("name = \n", "short.toml"),
    ],
)
def test_bad_scenario_gives_one_line_and_exit_2(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "short.toml"
    path.write_text(content)
    completed = harness("run", str(path), results=tmp_path, timeout=30)
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], completed.stderr
    assert "Traceback" not in completed.stderr


def test_bad_flags_give_usage_errors(tmp_path: Path) -> None:
    scenario = str(write_scenario(tmp_path))
    for args in (["run", scenario, "--mode", "clever"],
                 ["run", scenario, "--target-url", "http://example"],
                 ["run", scenario, "--lock-reports", "x.jsonl"],
                 ["matrix", scenario, "--expect", "naive=MAYBE"],
                 ["run", scenario, "--target-url", "ws://10.1.2.3:9000/ws"],
                 ["run", scenario, "--target-url", "ws://myhost:9000/ws"],
                 ["run", scenario, "--target-url", "wss://127.0.0.1:9000/ws",
                  "--ca-file", str(tmp_path / "no-such.pem")],
                 ["run", scenario, "--master-bind-host", "0.0.0.0"],
                 ["run", scenario, "--target-url", "ws://127.0.0.1:9000/ws",
                  "--lock-reports", str(tmp_path / "no-such-file.log")],
                 ["run", scenario, "--toxiproxy-url", "http://10.0.0.1:8474"]):
        completed = harness(*args, results=tmp_path, timeout=30)
        assert completed.returncode == 2, args
        assert "Traceback" not in completed.stderr
        assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr


def _locust_pid(results: Path) -> int:
    """The Locust process of the one run writing under ``results`` (a local runner)."""
    found = subprocess.run(["pgrep", "-f", "--", f"-m locust -f .*--samples-file {results}"],
                           capture_output=True, text=True)
    [pid] = [int(pid) for pid in found.stdout.split()]
    return pid


def test_a_starved_load_generator_is_an_error_not_a_fail(tmp_path: Path) -> None:
    """Freeze Locust for 2.5 s during a fixed run: the joins it was timing look slow, so
    join[fast].p99 breaks, but the generator's own lag shows the machine was at fault."""
    process = _start_harness(tmp_path, "fixed", fault="6s")
    _wait_for_load(tmp_path)
    time.sleep(4.0)  # into the fault (warm-up is 3 s)
    locust = _locust_pid(tmp_path)
    os.kill(locust, signal.SIGSTOP)
    try:
        time.sleep(2.5)
    finally:
        os.kill(locust, signal.SIGCONT)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 2, output
    result = only_result(tmp_path)
    message = result["verdict"]["message"]
    assert message.startswith("ERROR: load generator overloaded (lag p99 "), message
    assert "not blamed on the target: join[fast].p99" in message
    lag = result["measured"]["generator_lag"]
    assert lag["over_limit"] and lag["p99_ms"] > 1000 and lag["max_ms"] > 2000, lag
    assert any(max_ms > 2000 for _, _, max_ms in result["series"]["generator_lag"])
    assert "generator lag" in output  # the progress line shows it
    assert_nothing_left(result, tmp_path)


def test_a_starved_worker_is_named_in_the_error(tmp_path: Path) -> None:
    """Distributed: each worker probes its own lag; freezing one shows up as that worker."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(write_scenario(tmp_path, "6s")),
         "--mode", "fixed", "--workers", "2", "--results-dir", str(tmp_path), "--quiet"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    _wait_for_load(tmp_path)
    time.sleep(4.0)
    found = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "--", "--worker"],
                           capture_output=True, text=True)
    workers = sorted(int(pid) for pid in found.stdout.split())
    assert len(workers) == 2, found.stdout
    os.kill(workers[0], signal.SIGSTOP)
    try:
        time.sleep(2.0)
    finally:
        os.kill(workers[0], signal.SIGCONT)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 2, output
    result = only_result(tmp_path)
    message = result["verdict"]["message"]
    assert message.startswith("ERROR: load generator overloaded (lag p99 "), message
    lag = result["measured"]["generator_lag"]
    assert set(lag["processes"]) == {"master", "worker-0", "worker-1"}
    frozen = lag["worst_process"]
    assert frozen.startswith("worker-") and f"in Locust process {frozen}," in message
    assert lag["processes"][frozen]["max_ms"] > 1500
    for name, figures in lag["processes"].items():  # only the frozen worker lagged
        assert name == frozen or figures["p99_ms"] < 1000, (name, figures)
    assert_nothing_left(result, tmp_path)


SLICER_FAULT = """[[faults]]
kind = "slicer"
average_size = 16
size_variation = 4
delay = "200us"
"""


def test_a_slicer_fault_goes_on_the_slow_proxy_for_the_fault_phase(tmp_path: Path) -> None:
    """A fault kind added as one file: its toxic is on the slow member's proxy, and only there,
    while the fault lasts; Toxiproxy is watched through its API during the run."""
    from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError
    from harness.toxiproxy.server import ToxiproxyServer

    scenario = write_scenario(tmp_path, fault="5s")
    text = scenario.read_text()
    start = text.index("[[faults]]")
    scenario.write_text(text[:start] + SLICER_FAULT + text[text.index("[thresholds]"):])
    seen: dict[str, list[dict[str, Any]]] = {}
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as server:
        client = ToxiproxyClient(server.url, timeout=5.0)
        process = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", str(scenario), "--mode", "fixed",
             "--toxiproxy-url", server.url, "--results-dir", str(tmp_path / "results"),
             "--quiet"],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while process.poll() is None:
            try:
                for name, info in client.list_proxies().items():
                    seen.setdefault(name, []).extend(info.get("toxics") or [])
            except ToxiproxyError:
                pass
            time.sleep(0.2)
        output = process.stdout.read() if process.stdout else ""
        assert client.list_proxies() == {}, "the run left proxies behind"
    assert process.returncode in (0, 1), output  # a verdict, not an error
    # Proxies are named <run prefix>fast and <run prefix>slow-<index>.
    slow = {name: toxics for name, toxics in seen.items() if not name.endswith("-fast")}
    assert len(slow) == 1, seen
    [slow_toxics] = slow.values()
    assert slow_toxics, f"no toxic seen on the slow proxy: {seen}"
    assert {toxic["type"] for toxic in slow_toxics} == {"slicer"}
    assert slow_toxics[0]["stream"] == "downstream"
    assert slow_toxics[0]["attributes"] == {"average_size": 16, "size_variation": 4,
                                            "delay": 200}
    assert all(not toxics for name, toxics in seen.items() if name.endswith("-fast")), seen
    result = only_result(tmp_path / "results")
    [fault] = result["scenario"]["faults"]
    assert fault["toxic"] == {"type": "slicer", "stream": "downstream", "attributes": {
        "average_size": 16, "size_variation": 4, "delay": 200}}
    assert result["timings"]["fault_started"] and result["timings"]["fault_ended"]
    assert_nothing_left(result, tmp_path / "results")
