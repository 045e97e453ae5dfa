"""The shipped canary scenarios (``make chaos``), run in the suite: real runs, shortened.

Each scenario in scenarios/ runs against every mode its ``[expect]`` names (one test per
mode, so the suite's workers share them out), with only its ``[timing]`` cut (same load,
faults, checks and expectations); each run must give its expected verdict and exit code.
The runs also carry checks the verdict alone would not show: spawn is judged for the reason
``make chaos`` shows (stalled-member: FAIL on the pending sends), and every run's join
latency corrected for coordinated omission exists and is at least the raw one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from harness.target import PROJECT_ROOT
from tests.missing_setup import require_namespace
from tests.scenario_text import with_timing
from tests.test_chaos_run import (
    assert_corrected_join_latency,
    assert_nothing_left,
    harness,
    only_result,
)

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
#: Shipped scenarios that are no canary of ``make chaos``, with why and the file whose test
#: runs them for real (it names the scenario).
RUN_ELSEWHERE: dict[str, tuple[str, str]] = {
    "dashboard-stalled-member.toml": (
        "its target is a test server (tests/pushservers.py), not a bundled one",
        "tests/test_push.py"),
    "town-hall.toml": (
        "1,000 members in one room: a benchmark row (make bench), too heavy for a canary",
        "harness/bench/townhall.py"),  # run --tiny by tests/test_bench.py
}


def shipped() -> list[str]:
    return sorted(path.name for path in SCENARIOS.glob("*.toml"))


def test_every_shipped_scenario_is_a_canary_here_and_in_make_chaos() -> None:
    """Each shipped scenario is a canary (here and in make chaos), or says why not and which
    test runs it instead."""
    assert shipped() == sorted([*SHORTENED, *RUN_ELSEWHERE]), (
        "add the new scenario to SHORTENED above (or to RUN_ELSEWHERE, with the test that runs "
        "it)")
    for name, (_, runner) in RUN_ELSEWHERE.items():
        assert name in (PROJECT_ROOT / runner).read_text(), (name, runner)
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    block = re.search(r"^CHAOS_SCENARIOS \?=((?:.*\\\n)*.*)$", makefile, flags=re.M)
    assert block is not None
    assert sorted(Path(name).name for name in block.group(1).replace("\\", " ").split()) == \
        sorted(SHORTENED)


def canaries() -> list[tuple[str, str, str]]:
    """(scenario file, mode, expected verdict) for every mode each shipped scenario expects."""
    return [(name, mode, verdict) for name in sorted(SHORTENED)
            for mode, verdict in load_scenario(SCENARIOS / name).expectations.items()]


@pytest.mark.parametrize(("name", "mode", "expected"), canaries())
def test_a_shipped_canary_keeps_its_expectation(
        name: str, mode: str, expected: str, tmp_path: Path, toxiproxy_url: str) -> None:
    """One cell of ``make chaos`` (the run ``harness matrix`` makes for it), shortened."""
    source = SCENARIOS / name
    # A run in its own network namespace ([network]) cannot reach a Toxiproxy outside it.
    shared: tuple[str, ...] = ("--toxiproxy-url", toxiproxy_url)
    if "[network]" in source.read_text():
        require_namespace("small socket buffers")
        shared = ()
    scenario = tmp_path / name
    scenario.write_text(with_timing(source, **SHORTENED[name]))
    completed = harness("run", str(scenario), "--mode", mode, *shared, results=tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode == {"PASS": 0, "FAIL": 1}[expected], output
    result = only_result(tmp_path)
    assert (result["mode"], result["verdict"]["status"]) == (mode, expected), output
    assert_corrected_join_latency(result)
    assert_nothing_left(result, tmp_path)
    broken = {check["check"] for check in result["thresholds"] if check["status"] == "broken"}
    if expected == "PASS":
        assert not broken and result["lock_reports"] == [], output
    if (name, mode) == ("stalled-member.toml", "spawn"):
        # Its joins stay fast; what breaks is the send tasks piling up behind the stall.
        assert PENDING_SENDS in broken, output
