"""Origin: members and probes send the target's own origin, whatever proxy they dial.

A Go-chat-hub-style server (tests/originserver.py: join by connecting, 403 unless Origin's
host:port equals Host) is launched with ``--target-cmd``. Issue 19: every member dialled its
Toxiproxy proxy and sent ``Origin: http://127.0.0.1:<proxy port>`` with ``Host:
127.0.0.1:<target port>``, so a healthy server FAILed with errors.ratio = 1, while the probe
(direct) passed. Now the healthy server PASSes; and a wrong ``[target] origin`` is ERROR at
the probe through the members' proxy, naming the server's 403, before Locust starts.
The healthy run also carries ``--label``, which must reach the progress lines, the run
folder, result.json, history.jsonl and trend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target import PROJECT_ROOT
from tests.originserver import origin_refusal
from tests.scenario_text import four_members
from tests.test_chaos_run import assert_clean_locust_log, assert_nothing_left
from tests.test_protocol_json import connect_dialect

SERVER = f"{sys.executable} -m tests.originserver --port {{port}}"


def hub_scenario(target: str) -> str:
    """A few seconds of four members on the hub, with these ``[target]`` lines.

    The hub speaks the join-by-connect dialect, at ``/ws``.
    """
    return four_members("origin-hub", header=f"[target]\n{target}", warmup="4s", fault="0s",
                        cooldown="0s", after=connect_dialect("/ws"), thresholds="""
min_samples = 10
checks = ["join[fast].p99 < 250ms", "deliver[fast].p99 < 250ms", "errors.ratio < 0.01"]
""")


def test_the_servers_check_is_strict() -> None:
    assert origin_refusal("http://127.0.0.1:9000", "127.0.0.1:9000") is None
    assert origin_refusal("http://127.0.0.1:4000", "127.0.0.1:9000") is not None  # a proxy's
    assert origin_refusal(None, "127.0.0.1:9000") == "no Origin header"


def run_harness(tmp_path: Path, target: str, *flags: str
                ) -> tuple[subprocess.CompletedProcess[str], Path]:
    scenario = tmp_path / "origin.toml"
    scenario.write_text(hub_scenario(target))
    results = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--target-cmd", SERVER,
         "--results-dir", str(results), *flags],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    return completed, results


@pytest.mark.integration
def test_a_same_origin_server_passes_through_the_proxies_and_the_label_is_kept(
        tmp_path: Path) -> None:
    completed, results = run_harness(tmp_path, "", "--label", "go-hub")
    [result_file] = results.glob("*/result.json")
    result = json.loads(result_file.read_text())
    assert completed.returncode == 0, (result["verdict"], completed.stderr[-2000:])
    assert_nothing_left(result, results)
    assert_clean_locust_log(result_file.parent)
    checks = {check["check"]: check for check in result["thresholds"]}
    assert checks["errors.ratio < 0.01"]["measured"] == 0
    samples = [json.loads(line) for line in (result_file.parent / "samples.jsonl").open()]
    assert sum(s["op"] == "join" and s["member_kind"] == "slow" for s in samples) >= 2
    # Every member dialled a proxy, none the target itself.
    proxies = result["extra"]["proxies"]
    assert proxies["fast"] != result["extra"]["target_url"] and len(proxies["slow"]) == 1
    # The label: progress lines, run folder, result.json, history and trend.
    assert "[go-hub] warm-up" in completed.stderr, completed.stderr[-2000:]
    assert "-origin-hub-go-hub-" in result_file.parent.name
    assert (result["mode"], result["extra"]["label"]) == ("external", "go-hub")
    [line] = (results / "history.jsonl").read_text().splitlines()
    assert json.loads(line)["label"] == "go-hub"
    trend = subprocess.run([sys.executable, "-m", "harness", "trend", "--results-dir",
                            str(results)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=60)
    assert "go-hub (1 run)" in trend.stdout, trend.stdout


@pytest.mark.integration
def test_a_wrong_origin_is_an_error_at_the_probe_naming_the_403(tmp_path: Path) -> None:
    completed, results = run_harness(tmp_path, 'origin = "https://chat.example.com"',
                                     "--quiet")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    [result_file] = results.glob("*/result.json")
    result = json.loads(result_file.read_text())
    message = result["verdict"]["message"]
    assert result["verdict"]["status"] == "ERROR"
    assert "refused the WebSocket handshake (HTTP 403 Forbidden: Forbidden: origin " \
           "https://chat.example.com is not this server's" in message, message
    assert "at the probe" in message and "Origin: https://chat.example.com" in message
    assert "[target] origin" in message, message
    assert "locust" not in result["extra"]["pids"], "Locust must not start"
    assert_nothing_left(result, results)


@pytest.mark.integration
def test_a_bad_origin_flag_is_one_line(tmp_path: Path) -> None:
    completed, _ = run_harness(tmp_path, "", "--origin", "chat.example.com/x")
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert "--origin 'chat.example.com/x' is not an origin" in line, line
