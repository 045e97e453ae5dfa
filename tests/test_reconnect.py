"""The ``reconnect`` member fault: a slow member drops its connection abruptly and rejoins,
over and over, like a flapping mobile client.

Unit tests check the kind's keys and what a member does at its fault points (with a fake
member). The integration tests run the real thing: real reference servers, real Locust, and for
the Chaos tab real Toxiproxy in ``python -m harness ui``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.faults import FAULT_KINDS, MEMBER
from harness.faults.reconnect import (
    NAME,
    ReconnectCheck,
    ReconnectEvidence,
    ReconnectFault,
    act,
    parse,
)
from harness.reports.rejudge import rejudge
from harness.scenario import ScenarioError, load_scenario
from tests.scenario_text import one_slow_member_of_six
from tests.test_chaos_run import assert_nothing_left, harness, only_result
from tests.ui_command import UiCommand

RECONNECT_THRESHOLDS = """
min_samples = 5
checks = ["join[fast].p99 < 250ms", "deliver[fast].lost < 0.01", "deliver[slow].lost < 0.01",
          "lock_reports == 0", "errors.ratio < 0.01"]
"""


def write(directory: Path, name: str, interval: str, expect: str) -> Path:
    """The slow member reconnects every ``interval``, down 100 ms each time."""
    path = directory / f"{name}.toml"
    path.write_text(one_slow_member_of_six(
        name, faults=f'[[faults]]\nkind = "reconnect"\ninterval = "{interval}"\ndown = "100ms"',
        thresholds=RECONNECT_THRESHOLDS, expect=expect))
    return path


# The fault kind and its keys.

def test_reconnect_is_a_member_fault_with_interval_and_down(tmp_path: Path) -> None:
    assert FAULT_KINDS[NAME].where == MEMBER
    assert parse({"kind": NAME}) == ReconnectFault(interval_ms=1000, down_ms=200)
    scenario = load_scenario(write(tmp_path, "r", "500ms", 'fixed = "PASS"'))
    assert scenario.member_faults == (ReconnectFault(interval_ms=500, down_ms=100),)
    assert scenario.to_dict()["faults"] == [
        {"kind": NAME, "where": MEMBER, "interval_ms": 500, "down_ms": 100}]
    assert FAULT_KINDS[NAME].edit({"interval": 300}).toxic().attributes == {
        "interval": 300, "down": 200}


@pytest.mark.parametrize(("line", "problem"), [
    ('interval = "10ms"\ndown = "0ms"', "interval must be from 50ms to 600s, got 10 ms"),
    ('down = "soon"', "down: "),
    ('down = "1.5ms"', "down must be a whole number of milliseconds"),
    ('stream = "upstream"', 'a reconnect has no stream'),
])
def test_bad_reconnect_keys_are_one_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path, "r", "1s", 'fixed = "PASS"')
    path.write_text(path.read_text().replace('interval = "1s"\ndown = "100ms"', line))
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


class FakeMember:
    """A member that records what the fault made it do (the real one: RoomUser)."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.state: dict[str, float] = {}

    def in_force(self, kind: str) -> bool:
        return True

    def wait_lifted(self, kind: str, timeout_s: float) -> bool:
        self.done.append(f"away {timeout_s:g} s")
        return False

    def stop_reading_until_lifted(self, kind: str) -> None:
        raise AssertionError("a reconnect never stops reading")

    def drop_connection(self) -> None:
        self.done.append("drop")

    def rejoin(self) -> None:
        self.done.append("rejoin")

    def fault_state(self, kind: str) -> dict[str, float]:
        return self.state

    def report_fault(self, entry: dict[str, Any]) -> None:
        self.done.append(entry["event"])


def test_a_member_drops_once_connected_for_the_interval_then_rejoins_after_down() -> None:
    member = FakeMember()
    settings = {"interval": 50, "down": 20}
    act(member, settings)  # the first fault point starts the clock
    assert member.done == []
    time.sleep(0.06)
    act(member, settings)
    assert member.done == ["drop", "dropped", "away 0.02 s", "rejoin", "rejoined"]
    act(member, settings)  # connected again just now: not yet
    assert len(member.done) == 5


def test_a_failed_rejoin_restarts_the_clock_and_is_the_members_failure() -> None:
    member = FakeMember()

    def refused() -> None:
        raise ConnectionError("member_taken")

    member.rejoin = refused  # type: ignore[method-assign]
    member.state["connected_since"] = 0.0
    with pytest.raises(ConnectionError):
        act(member, {"interval": 50, "down": 0})
    assert member.done == ["drop", "dropped", "away 0 s"]
    assert time.monotonic() - member.state["connected_since"] < 5


def test_the_check_counts_drops_and_no_drop_is_a_fault_not_in_effect() -> None:
    reports = [{"fault": NAME, "member": "slow-0", "event": event}
               for event in ("dropped", "rejoined", "dropped")]
    reports.append({"member": "slow-1", "event": "stalled"})  # another kind's: not counted
    counted = check(reports, fault_started=10.0, lifted_at=16.0, slow_members=2)
    assert (counted.drops, counted.rejoins, counted.errors) == ({"slow-0": 2}, {"slow-0": 1}, [])
    assert counted.summary() == "reconnect: slow-0 dropped 2 times, rejoined 1"
    assert counted.cleared is True
    assert counted.to_dict(10.0) == {"drops": {"slow-0": 2}, "rejoins": {"slow-0": 1},
                                     "errors": []}
    [problem] = check([], fault_started=10.0, lifted_at=16.0, slow_members=1).errors
    assert problem.startswith("reconnect: no slow member dropped")
    # never switched on
    assert check([], fault_started=None, lifted_at=None, slow_members=1).errors == []


def check(reports: list[dict[str, Any]], **window: Any) -> ReconnectCheck:
    """The reconnect's check of ``reports``, added in two parts (as a live run reads them)."""
    evidence = ReconnectEvidence()
    evidence.add(reports[:1], [])
    evidence.add(reports[1:], [])
    return evidence.check(**window)


# The real thing.

@pytest.mark.integration
def test_a_reconnecting_member_passes_fixed_and_leaves_naive_failing_on_its_lock(
        tmp_path: Path) -> None:
    path = write(tmp_path, "flapping", "500ms", 'naive = "FAIL"\nfixed = "PASS"')
    completed = harness("matrix", str(path), results=tmp_path, timeout=240)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = {path.parent.name: (path.parent, json.loads(path.read_text()))
               for path in tmp_path.glob("*/*/result.json")}
    for mode, (run_dir, result) in results.items():
        reports = [json.loads(line) for line in
                   (run_dir / "member_faults.jsonl").read_text().splitlines()]
        drops = [entry for entry in reports if entry["event"] == "dropped"]
        rejoins = [entry for entry in reports if entry["event"] == "rejoined"]
        # 6 s of fault, a drop every 0.5 s connected + 0.1 s away: about 9; a loaded machine
        # does fewer, never none.
        assert len(drops) >= 3 and len(rejoins) >= len(drops) - 1, (mode, reports)
        assert result["extra"][NAME]["drops"] == {"slow-0": len(drops)}
        statuses = {item["subject"]: item["status"] for item in result["thresholds"]}
        # Its own drops cost nobody a delivery, and every rejoin worked: on both servers.
        assert statuses["deliver[slow].lost"] == "holding", (mode, result["verdict"])
        assert statuses["deliver[fast].lost"] == "holding", (mode, result["verdict"])
        assert statuses["errors.ratio"] == "holding", (mode, result["verdict"])
        slow_joins = [line for line in (run_dir / "samples.jsonl").read_text().splitlines()
                      if '"op": "join"' in line and '"member_kind": "slow"' in line]
        assert len(slow_joins) > len(drops), mode  # each rejoin is a join of its own
        assert_nothing_left(result, tmp_path)
    assert results["fixed"][1]["verdict"]["status"] == "PASS"
    naive = results["naive"][1]
    assert naive["verdict"]["status"] == "FAIL"  # as without the fault: its lock
    # A broadcast waiting on the dropped member's ack holds the lock until the server sees
    # the reset: joins may wait too. Never a loss or an error of the member's own making.
    broken = {item["subject"] for item in naive["thresholds"] if item["status"] == "broken"}
    assert "lock_reports" in broken and broken <= {"lock_reports", "join[fast].p99"}, \
        naive["verdict"]["message"]


@pytest.mark.integration
def test_a_reconnect_that_never_drops_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "never-drops", "600s", 'fixed = "ERROR"')
    completed = harness("run", str(path), "--mode", "fixed", results=tmp_path, timeout=120)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    assert "reconnect: no slow member dropped its connection" in result["verdict"]["message"]
    # Judged again from its folder, through the same readers: the same verdict.
    [result_file] = tmp_path.glob("**/result.json")
    assert rejudge(result_file.parent).verdict.message == result["verdict"]["message"]
    assert_nothing_left(result, tmp_path)


def _slow_connects(url: str) -> int:
    stats = requests.get(f"{url}/stats/requests", timeout=10).json()["stats"]
    return sum(int(row["num_requests"]) for row in stats
               if row["method"] == "slow" and row["name"] == "connect")


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.5)


@pytest.mark.integration
def test_the_chaos_tab_sets_and_clears_a_reconnect(
        ui_command: Callable[[str], UiCommand]) -> None:
    command = ui_command("fixed")
    url = command.wait_for_url()
    started = requests.post(f"{url}/swarm", data={"user_count": 6, "spawn_rate": 6}, timeout=10)
    assert started.ok, started.text
    _wait_for(lambda: _slow_connects(url) >= 1, 30, "the slow member to connect")
    time.sleep(1.0)
    before = _slow_connects(url)
    answer = requests.post(f"{url}/chaos/api/fault", timeout=10, json={
        "kind": NAME, "params": {"interval": 300, "down": 50}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"].startswith("reconnect set on ")
    # Each drop reconnects: the slow member's connects climb (a new connection each time).
    _wait_for(lambda: _slow_connects(url) >= before + 3, 30, "three reconnects")
    cleared = requests.post(f"{url}/chaos/api/clear", timeout=10, json={"kind": NAME})
    assert cleared.status_code == 200 and cleared.json()["ok"], cleared.text
    # A drop under way when the clear came still rejoins, and Locust's web UI refreshes its
    # stats every 2 s: read them once that is past.
    time.sleep(4)
    settled = _slow_connects(url)
    time.sleep(5)
    assert _slow_connects(url) == settled, (
        "the member still reconnects after the clear: "
        f"{requests.get(f'{url}/stats/requests', timeout=10).json()['stats']} "
        f"{requests.get(f'{url}/stats/failures', timeout=10).text}")
    assert command.stop() == 130, "".join(command.output)
    command.assert_nothing_left()
