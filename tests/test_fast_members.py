"""``[network] fast_members``: the fast members through Toxiproxy's clean proxy, or direct.

Unit checks of the key and of the combinations refused before anything starts, then a real
matrix (real Toxiproxy, server and Locust) with ``fast_members = "direct"``: Toxiproxy is
watched while it runs and never holds a fast proxy, the fast members' deliveries are timed,
and the verdicts stay those of the proxied set-up (naive FAIL, fixed PASS with a slow member).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.__main__ import main
from harness.bench.short_scenario import short_slow_member
from harness.rig.launched import LaunchPlan
from harness.rig.rig import OptionsError, RigOptions
from harness.scenario import ScenarioError, load_scenario
from harness.target import PROJECT_ROOT
from harness.toxiproxy.client import ToxiproxyClient
from tests.test_chaos_run import SHORT_TARGET, assert_nothing_left

DIRECT = '\n[network]\nfast_members = "direct"\n'
THRESHOLDS = """
min_samples = 10
checks = [
  "join[fast].p99 < 250ms",
  "deliver[fast].p99 < 250ms",
  "lock_reports == 0",
  "errors.ratio < 0.05",
]
"""


def write_scenario(directory: Path, name: str = "direct-fast", network: str = DIRECT) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(short_slow_member(name, target=SHORT_TARGET, thresholds=THRESHOLDS,
                                      members=8, warmup="3s", fault="4s") + network)
    return path


def test_fast_members_default_to_the_proxy_and_may_go_direct(tmp_path: Path) -> None:
    proxied = load_scenario(write_scenario(tmp_path, "proxied", network=""))
    assert proxied.network.fast_members == "proxy"
    direct = load_scenario(write_scenario(tmp_path))
    assert direct.network.fast_members == "direct"
    assert direct.to_dict()["network"] == {"socket_buffer": 0, "fast_members": "direct"}


def test_an_unknown_path_is_one_line(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, network='\n[network]\nfast_members = "direct-ish"\n')
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    message = str(raised.value)
    assert "\n" not in message
    assert "[network] fast_members must be one of 'proxy', 'direct', got 'direct-ish'" in message


@pytest.mark.parametrize(("target", "refused"), [
    ({}, True),  # the bundled server listens on loopback
    ({"target_url": "ws://127.0.0.1:9000/ws"}, True),
    ({"target_url": "ws://[::1]:9000/ws"}, True),
    ({"launch": LaunchPlan("myserver --port {port}")}, True),
    ({"target_url": "ws://10.0.0.5:9000/ws"}, False),
    ({"launch": LaunchPlan("myserver", url="ws://10.0.0.5:{port}/ws")}, False),
])
def test_direct_fast_members_need_a_target_remote_workers_reach(
        tmp_path: Path, target: dict[str, Any], refused: bool) -> None:
    scenario = load_scenario(write_scenario(tmp_path))
    RigOptions(scenario=scenario, **target)  # one host: always fine
    RigOptions(scenario=scenario, workers=2, **target)
    if not refused:
        RigOptions(scenario=scenario, remote_workers=2, **target)
        return
    # The options refuse themselves when built, before anything starts.
    with pytest.raises(OptionsError, match="workers on other hosts cannot reach the target"):
        RigOptions(scenario=scenario, remote_workers=2, **target)
    proxied = load_scenario(write_scenario(tmp_path, "proxied", network=""))
    RigOptions(scenario=proxied, remote_workers=2, **target)


@pytest.mark.parametrize("command", [
    ["run"], ["matrix"], ["sweep", "--latency", "100ms..600ms", "--repeat", "1"]])
def test_the_command_line_refuses_it_before_anything_starts(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main([command[0], str(write_scenario(tmp_path)), *command[1:], "--expect-workers",
                 "2", "--results-dir", str(tmp_path / "results")])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and 'fast_members = "direct" with --expect-workers' in error
    assert not (tmp_path / "results").exists()


def test_a_matrix_refuses_it_before_its_first_scenario_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proxied = write_scenario(tmp_path, "proxied", network="")
    code = main(["matrix", str(proxied), str(write_scenario(tmp_path)), "--expect-workers",
                 "2", "--results-dir", str(tmp_path / "results")])
    assert code == 2 and 'fast_members = "direct"' in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def watch_proxies(process: subprocess.Popen[str], toxiproxy: ToxiproxyClient,
                  before: set[str]) -> set[str]:
    """The names of the proxies, not in ``before``, that Toxiproxy held at any time while
    ``process`` ran."""
    seen: set[str] = set()
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        seen.update(toxiproxy.list_proxies())
        time.sleep(0.05)
    return seen - before


@pytest.mark.integration
def test_direct_fast_members_skip_toxiproxy_and_keep_the_verdicts(
        tmp_path: Path, toxiproxy_url: str) -> None:
    """naive FAILs and fixed PASSes as through the clean proxy, with no fast proxy at all."""
    toxiproxy = ToxiproxyClient(toxiproxy_url, timeout=5.0)
    before = set(toxiproxy.list_proxies())
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "matrix", str(write_scenario(tmp_path)),
         "--expect", "naive=FAIL,fixed=PASS", "--toxiproxy-url", toxiproxy_url,
         "--results-dir", str(tmp_path), "--quiet"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = watch_proxies(process, toxiproxy, before)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    # Each run's one slow member had its proxy; no run had one for the fast members.
    assert len(seen) == 2 and all(proxy.endswith("-slow-0") for proxy in seen), seen
    loaded = [json.loads(path.read_text()) for path in tmp_path.glob("**/result.json")]
    results = {result["extra"]["label"]: result for result in loaded}
    assert {label: result["verdict"]["status"] for label, result in results.items()} == {
        "naive": "FAIL", "fixed": "PASS"}
    for result in results.values():
        proxies = result["extra"]["proxies"]
        assert proxies["fast_path"] == "direct"
        assert proxies["fast"] == result["extra"]["target_url"]
        assert len(proxies["slow"]) == 1 and proxies["slow"][0] != proxies["fast"]
        assert_nothing_left(result, tmp_path)
    checks = {check["check"]: check for check in results["naive"]["thresholds"]}
    assert checks["join[fast].p99 < 250ms"]["status"] == "broken"
    # The fast members timed each other's deliveries, on the direct path.
    run_dir = next(path.parent for path in tmp_path.glob("**/fixed/result.json"))
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").open()]
    timed = [s for s in samples if s["op"] == "deliver" and s["member_kind"] == "fast"
             and s["ok"]]
    assert len(timed) >= 50, len(timed)
