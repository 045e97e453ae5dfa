"""One path from the recorded files to a verdict: the run's final verdict and a judgement again.

Both read the run folder through the readers of :data:`harness.runfolder.recorded.RECORDED`, so
a reader added to that one table is seen by both, and a folder judged again gives the verdict
its run gave. (The real runs judged again are in tests/test_rejudge.py, test_stall.py and
test_reconnect.py.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.bench.short_scenario import short_slow_member
from harness.faults import FAULT_KINDS
from harness.faults.reconnect import ReconnectCheck
from harness.measure.measurements import Sample
from harness.measure.stall_evidence import StallCheck, check_stalls
from harness.reports.rejudge import rejudge
from harness.run import ChaosRun, RunOptions
from harness.runfolder import recorded
from harness.runfolder.folder import RunFolder
from harness.runfolder.live import RunFolderReaders
from harness.runfolder.record import ResultRecord, load_record, record_from_document
from harness.runfolder.recorded import Recorded, RunContext, member_fault_checks
from harness.scenario import Scenario, load_scenario
from tests.scenario_text import room_scenario

SEEN = "the added reader read this run"


def a_run_without_a_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChaosRun:
    """A ChaosRun whose set-up and timeline only write what Locust would have recorded."""
    scenario_file = tmp_path / "recorded.toml"
    scenario_file.write_text(short_slow_member(
        "recorded", target="", thresholds='min_samples = 3\nchecks = ["join[fast].p99 < 250ms"]'))
    run = ChaosRun(RunOptions(scenario=load_scenario(scenario_file), results_dir=tmp_path,
                              progress=False))
    start = 1_800_000_000.0
    samples = [Sample(start + index * 0.1, "join", "fast", 5.0, True, member=f"fast-{index}")
               for index in range(10)]

    def set_up() -> None:
        run.folder.samples.write_text("".join(json.dumps(sample.to_dict()) + "\n"
                                              for sample in samples))

    def drive() -> None:
        run.measurements.run_started = start
        run.measurements.run_ended = start + 2.0

    monkeypatch.setattr(run, "set_up", set_up)
    monkeypatch.setattr(run, "drive", drive)
    return run


def test_a_reader_added_to_the_table_is_seen_by_the_run_and_by_rejudge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_something_new(context: RunContext, into: Recorded) -> None:
        into.measurements.fault_not_in_effect.append(f"{SEEN}: {context.folder.name}")

    monkeypatch.setattr(recorded, "RECORDED", (*recorded.RECORDED, read_something_new))
    outcome = a_run_without_a_rig(tmp_path, monkeypatch).execute()
    assert outcome.verdict.status == "ERROR"
    assert f"{SEEN}: {outcome.run_dir.name}" in outcome.verdict.message
    again = rejudge(outcome.run_dir).verdict
    assert (again.status, again.message) == (outcome.verdict.status, outcome.verdict.message)


def test_without_it_the_same_run_passes_and_judged_again_passes_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = a_run_without_a_rig(tmp_path, monkeypatch).execute()
    assert outcome.verdict.status == "PASS", outcome.verdict.message
    assert len(outcome.measurements.samples) == 10
    assert rejudge(outcome.run_dir).verdict.message == outcome.verdict.message


def test_the_context_of_a_record_names_its_member_faults_and_when_they_lifted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = a_run_without_a_rig(tmp_path, monkeypatch).execute()
    document = json.loads((outcome.run_dir / "result.json").read_text())
    document["scenario"]["faults"] = [{"kind": "stall", "where": "member"},
                                      {"kind": "latency", "stream": "downstream"}]
    started = document["timings"]["run_started"]
    document["timings"].update(fault_started=started + 0.5, fault_ended=started + 1.0)
    (outcome.run_dir / "result.json").write_text(json.dumps(document))
    context = RunContext.of_record(load_record(outcome.run_dir))
    assert list(context.readers.fault_evidence) == ["stall"]
    assert context.slow_members == 1
    assert context.faults_lifted == started + 1.0
    # Stopped with the faults on: their end is the run's, and they were never lifted.
    document["timings"]["fault_ended"] = document["timings"]["run_ended"]
    (outcome.run_dir / "result.json").write_text(json.dumps(document))
    assert RunContext.of_record(load_record(outcome.run_dir)).faults_lifted is None


def _record_of(scenario: Scenario, tmp_path: Path) -> ResultRecord:
    """A record whose ``scenario`` is ``scenario`` as result.json writes it."""
    return record_from_document(tmp_path, {
        "verdict": {"status": "PASS", "message": "ok"}, "mode": "fixed",
        "scenario": json.loads(json.dumps(scenario.to_dict())),
        "measured": {"latency_ms": {}}, "thresholds": []})


@pytest.mark.parametrize("faults", [
    "",
    '[[faults]]\nkind = "latency"\nlatency = "100ms"',
    '[[faults]]\nkind = "stall"',
    '[[faults]]\nkind = "reconnect"\n\n[[faults]]\nkind = "stall"\n\n'
    '[[faults]]\nkind = "reconnect"',
])
def test_the_live_run_and_its_record_name_the_same_member_fault_kinds(
        tmp_path: Path, faults: str) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text(room_scenario(
        "kinds", members=4, slow_members=1, spawn_rate=4, broadcast_interval="100ms",
        stay="1s", away="100ms", warmup="1s", fault="1s", cooldown="1s",
        thresholds='checks = ["join[fast].p99 < 250ms"]', faults=faults))
    scenario = load_scenario(path)
    kinds = scenario.member_fault_kinds
    assert kinds == _record_of(scenario, tmp_path).member_fault_kinds
    assert [kind.name for kind in kinds] == list(dict.fromkeys(
        fault.kind for fault in scenario.faults if fault.kind in ("stall", "reconnect")))


def test_a_record_names_each_member_fault_kind_once_and_skips_unknown_ones(
        tmp_path: Path) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text(room_scenario(
        "kinds", members=4, slow_members=1, spawn_rate=4, broadcast_interval="100ms",
        stay="1s", away="100ms", warmup="1s", fault="1s", cooldown="1s",
        thresholds='checks = ["join[fast].p99 < 250ms"]', faults='[[faults]]\nkind = "stall"'))
    document: dict[str, Any] = {"verdict": {"status": "PASS", "message": "ok"}, "mode": "fixed",
                "scenario": load_scenario(path).to_dict(), "measured": {"latency_ms": {}},
                "thresholds": []}
    # A record from another harness: a kind it no longer knows, a kind twice, a bad entry.
    document["scenario"]["faults"] = [{"kind": "gone"}, {"kind": "reconnect"}, "stall",
                                      {"kind": "stall"}, {"kind": "reconnect"}]
    record = record_from_document(tmp_path, document)
    assert record.member_fault_kinds == (FAULT_KINDS["reconnect"], FAULT_KINDS["stall"])


def _append(path: Path, *lines: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as file:
        file.writelines(json.dumps(line) + "\n" for line in lines)


def test_the_readers_hand_the_member_faults_each_report_and_sample_once(
        tmp_path: Path) -> None:
    # The run asks the member faults' checks on every tick of a recovery: each tick's work
    # must be what is new, not the run so far.
    added: list[tuple[list[int], list[str | None]]] = []

    class Recording:
        def add(self, reports: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
            added.append(([entry["n"] for entry in reports], [s.member for s in samples]))

        def check(self, **window: Any) -> ReconnectCheck:
            return ReconnectCheck({}, {})

    folder = RunFolder(tmp_path)
    readers = RunFolderReaders(folder, member_faults=[
        replace(FAULT_KINDS["reconnect"], evidence=Recording)])
    sample = Sample(1.0, "join", "fast", 5.0, True, member="fast-0").to_dict()
    _append(folder.member_faults, {"time": 1.0, "n": 0}, {"time": 1.1, "n": 1})
    _append(folder.samples, sample)
    readers.read_new()
    _append(folder.member_faults, {"time": 1.2, "n": 2})
    _append(folder.samples, {**sample, "member": "fast-1"})
    with open(folder.member_faults, "a") as file:
        file.write('{"time": 1.3, "n"')  # half written: read with the rest of its line
    readers.read_new()
    with open(folder.member_faults, "a") as file:
        file.write(': 3}\n')
    readers.read_new()
    assert added == [([0, 1], ["fast-0"]), ([2], ["fast-1"]), ([3], [])]


def test_the_final_read_takes_a_last_line_cut_short_and_a_live_one_waits_for_it(
        tmp_path: Path) -> None:
    # Live, a line without its newline is being written; once every writer is done (the
    # final verdict, a rejudge) it is all there is, and it counts.
    folder = RunFolder(tmp_path)
    readers = RunFolderReaders(folder, member_faults=[FAULT_KINDS["stall"]])
    sample = Sample(1.0, "join", "fast", 5.0, True, member="fast-0")
    folder.samples.write_text(json.dumps(sample.to_dict()))
    folder.member_faults.write_text('{"time": 10.0, "member": "slow-0", "event": "stalled"}')
    context = RunContext(readers=readers, run_started=9.0, run_ended=20.0, fault_started=9.9,
                         slow_members=1)
    assert readers.read_new() == []
    before = member_fault_checks(context)["stall"]
    assert isinstance(before, StallCheck) and before.members == []
    assert readers.read_new(final=True) == [sample]
    after = member_fault_checks(context)["stall"]
    assert isinstance(after, StallCheck) and [m.member for m in after.members] == ["slow-0"]


def test_a_live_stall_check_reads_only_the_lines_added_since_the_last(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    readers = RunFolderReaders(folder, member_faults=[FAULT_KINDS["stall"]])
    context = RunContext(readers=readers, run_started=9.0, run_ended=20.0, fault_started=9.9,
                         slow_members=1)
    first = [{"time": 10.0, "member": "slow-0", "event": "stalled"},
             *({"time": 10.0 + 0.2 * step, "member": "slow-0", "event": "queue",
                "bytes": min(60_000, 20_000 * step), "peer_queued": 64_000,
                "peer_buffer": 64_000} for step in range(12))]
    _append(folder.member_faults, *first)
    readers.read_new()
    assert member_fault_checks(context)["stall"].errors == []  # backpressure reached
    # Blank out what was read: read again whole, the file would hold no stall at all.
    size = folder.member_faults.stat().st_size
    folder.member_faults.write_bytes(b" " * (size - 1) + b"\n")
    rest = [{"time": 12.3, "member": "slow-0", "event": "resumed"},
            {"time": 12.4, "member": "slow-0", "event": "drained"}]
    _append(folder.member_faults, *rest)
    readers.read_new()
    lifted = replace(context, faults_lifted=12.3)
    assert member_fault_checks(lifted)["stall"].to_dict(0.0) == check_stalls(
        [*first, *rest], [], fault_started=9.9, lifted_at=12.3, slow_members=1).to_dict(0.0)
