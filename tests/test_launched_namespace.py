"""``[network] socket_buffer`` with a server the harness launches (``--target-cmd``).

Issue 19: such a run said "no network namespace (the run uses a component that is not the
bundled rig on this machine)" and kept the machine's buffers. Now the launched command starts
inside the run's namespace like the bundled server, in the folder it was given in: it sees
the capped ``tcp_wmem`` (it prints it into target.log), the run says nothing about a missing
namespace, and the healthy server PASSes; a server that runs already is still named on one
line (tests/test_stall.py checks the wording).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target import PROJECT_ROOT
from tests.missing_setup import require_namespace
from tests.test_chaos_run import assert_nothing_left
from tests.test_origin import hub_scenario

pytestmark = pytest.mark.integration

#: The strict same-origin server, after it printed the TCP send buffer sysctl it runs under.
SERVER = (f"sh -c 'cat /proc/sys/net/ipv4/tcp_wmem; exec {sys.executable} -m "
          "tests.originserver --port {port}'")


def test_a_launched_target_runs_inside_the_namespace_with_small_buffers(
        tmp_path: Path) -> None:
    require_namespace()
    scenario = tmp_path / "small-buffers.toml"
    scenario.write_text(hub_scenario("") + '\n[network]\nsocket_buffer = "64KiB"\n')
    results = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--target-cmd", SERVER,
         "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    [result_file] = results.glob("*/result.json")
    result = json.loads(result_file.read_text())
    assert "no network namespace" not in completed.stderr, completed.stderr
    assert completed.returncode == 0, (result["verdict"], completed.stderr[-2000:])
    sysctl = (result_file.parent / "target.log").read_text().splitlines()[0].split()
    assert sysctl == ["4096", "65536", "65536"], sysctl
    assert result["extra"]["target_command"][:2] == ["sh", "-c"]
    assert_nothing_left(result, results)
