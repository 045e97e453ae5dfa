"""The shipped canary scenarios (``make chaos``), run in the suite: real matrices, shortened.

Each scenario in scenarios/ runs as ``harness matrix`` against every mode its ``[expect]``
names, with only its ``[timing]`` cut (same load, faults, checks and expectations), and the
matrix must exit 0 with every expectation held. Its runs also carry checks the verdict alone
would not show: spawn is judged for the reason ``make chaos`` shows (stalled-member: FAIL on
the pending sends, not on joins), and every run's join latency corrected for coordinated
omission exists and is at least the raw one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.target import PROJECT_ROOT

from .missing_setup import require_namespace
from .scenario_text import with_timing
from .test_chaos_run import assert_corrected_join_latency, assert_nothing_left, harness

pytestmark = pytest.mark.integration

SCENARIOS = PROJECT_ROOT / "scenarios"
#: How each shipped scenario is cut for the suite. Only [timing] changes; the fault must
#: still last long enough for every checked metric's min_samples.
SHORTENED: dict[str, dict[str, str]] = {
    "slow-member.toml": {"warmup": "2s", "fault": "6s", "cooldown": "1s"},
    "stalled-member.toml": {"warmup": "2s", "fault": "5s"},
    "socketio-slow-member.toml": {"warmup": "2s", "fault": "5s"},
}
PENDING_SENDS = "metric[roomserver_pending_sends].max < 100"


def shipped() -> list[str]:
    return sorted(path.name for path in SCENARIOS.glob("*.toml"))


def test_every_shipped_scenario_is_a_canary_here_and_in_make_chaos() -> None:
    assert shipped() == sorted(SHORTENED), "add the new scenario to SHORTENED above"
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    block = re.search(r"^CHAOS_SCENARIOS \?=((?:.*\\\n)*.*)$", makefile, flags=re.M)
    assert block is not None
    assert sorted(Path(name).name for name in block.group(1).replace("\\", " ").split()) == \
        shipped()


@pytest.mark.parametrize("name", sorted(SHORTENED))
def test_a_shipped_canary_keeps_its_expectations(
        name: str, tmp_path: Path, toxiproxy_url: str) -> None:
    source = SCENARIOS / name
    # A run in its own network namespace ([network]) cannot reach a Toxiproxy outside it.
    shared = ("--toxiproxy-url", toxiproxy_url)
    if "[network]" in source.read_text():
        require_namespace("small socket buffers")
        shared = ()
    scenario = tmp_path / name
    scenario.write_text(with_timing(source, **SHORTENED[name]))
    results = tmp_path / "results"
    completed = harness("matrix", str(scenario), *shared,
                        results=results, timeout=280)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    [matrix_file] = results.glob("*/matrix.json")
    matrix = json.loads(matrix_file.read_text())
    assert matrix["all_held"] is True, output
    rows = {row["mode"]: row for row in matrix["runs"]}
    expected = re.findall(r'^(\w+) = "(PASS|FAIL)"', source.read_text().split("[expect]")[1],
                          flags=re.M)
    assert {mode: row["verdict"] for mode, row in rows.items()} == dict(expected), output
    for mode, row in rows.items():
        result = json.loads((Path(row["run_dir"]) / "result.json").read_text())
        assert result["mode"] == mode
        assert_corrected_join_latency(result)
        assert_nothing_left(result, results)
        broken = {check["check"] for check in result["thresholds"]
                  if check["status"] == "broken"}
        if mode == "spawn" and name == "stalled-member.toml":
            assert PENDING_SENDS in broken, result["verdict"]["message"]
        if row["verdict"] == "PASS":
            assert not broken and result["lock_reports"] == [], result["verdict"]["message"]
