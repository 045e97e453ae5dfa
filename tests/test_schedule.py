"""The schedule as data: the planned timeline, an early verdict's, and how they read back."""

from __future__ import annotations

import pytest

from harness.scenario import TimingSettings
from harness.schedule import (
    COOL_DOWN,
    END,
    EVIDENCE,
    FAULT,
    FAULTS_OFF,
    FAULTS_ON,
    RECOVERY,
    WARM_UP,
    Schedule,
    Step,
)

TIMING = TimingSettings(warmup_s=4.0, fault_s=12.0, cooldown_s=2.0, evidence_window_s=3.0)


def test_the_planned_timeline_switches_faults_only_where_there_are_any() -> None:
    planned = Schedule.planned(TIMING, faults=True)
    assert planned.steps == (Step(0.0, WARM_UP), Step(4.0, FAULT, FAULTS_ON),
                             Step(16.0, COOL_DOWN, FAULTS_OFF), Step(18.0, END))
    assert [step.action for step in Schedule.planned(TIMING, faults=False).steps] == [""] * 4
    assert (planned.phase_at(0.0), planned.phase_at(3.99), planned.phase_at(4.0),
            planned.phase_at(17.0), planned.phase_at(18.0)) == (
        WARM_UP, WARM_UP, FAULT, COOL_DOWN, END)
    assert planned.left_s(10.0) == 8.0 and planned.left_s(30.0) == 0.0
    assert planned.fault_start_s == 4.0 and planned.end_s == 18.0
    assert planned.due(0, 4.0) == list(planned.steps[:2])
    assert planned.due(2, 10.0) == []
    assert planned.phases() == [(WARM_UP, 0.0, 4.0), (FAULT, 4.0, 16.0), (COOL_DOWN, 16.0, 18.0)]


def test_an_early_verdict_keeps_the_past_then_evidence_then_end() -> None:
    early = Schedule.planned(TIMING, faults=True).after_early_verdict(
        6.5, evidence_window_s=3.0, recovery_s=2.0, member_faults_on=False)
    assert early.steps == (Step(0.0, WARM_UP), Step(4.0, FAULT, FAULTS_ON),
                           Step(6.5, EVIDENCE), Step(9.5, END))
    assert early.phase_at(7.0) == EVIDENCE and early.left_s(7.0) == 2.5


def test_an_early_verdict_with_a_member_fault_on_lifts_it_and_watches_recovery() -> None:
    early = Schedule.planned(TIMING, faults=True).after_early_verdict(
        6.5, evidence_window_s=3.0, recovery_s=2.0, member_faults_on=True)
    assert early.steps[2:] == (Step(6.5, EVIDENCE),
                               Step(9.5, RECOVERY, FAULTS_OFF, until_cleared=True),
                               Step(11.5, END))
    cleared = early.ended_at(10.2)  # the stall cleared before the recovery's time was up
    assert cleared.steps[-2:] == (Step(9.5, RECOVERY, FAULTS_OFF, until_cleared=True),
                                  Step(10.2, END))


def test_a_zero_evidence_window_ends_at_once_or_goes_straight_to_recovery() -> None:
    planned = Schedule.planned(TIMING, faults=True)
    assert planned.after_early_verdict(5.0, 0.0, 2.0, False).step_at(5.0).phase == END
    recovering = planned.after_early_verdict(5.0, 0.0, 2.0, True)
    assert recovering.step_at(5.0) == Step(5.0, RECOVERY, FAULTS_OFF, until_cleared=True)
    assert recovering.due(2, 5.0) == list(recovering.steps[2:4])


def test_a_planned_lift_inside_the_evidence_window_still_happens_and_ends_the_run() -> None:
    early = Schedule.planned(TIMING, faults=True).after_early_verdict(
        15.0, evidence_window_s=3.0, recovery_s=2.0, member_faults_on=True)
    assert early.steps[2:] == (Step(15.0, EVIDENCE), Step(16.0, EVIDENCE, FAULTS_OFF),
                               Step(18.0, END))


def test_nothing_runs_past_the_planned_end() -> None:
    early = Schedule.planned(TIMING, faults=True).after_early_verdict(
        17.5, evidence_window_s=3.0, recovery_s=2.0, member_faults_on=False)
    assert early.end_s == 18.0


def test_the_schedule_reads_back_from_result_json() -> None:
    early = Schedule.planned(TIMING, faults=True).after_early_verdict(6.5, 3.0, 2.0, True)
    assert Schedule.from_dict(early.to_dict()) == early
    for bad in ([], [{"at_s": 0, "phase": WARM_UP}], [{"phase": END}], "x"):
        with pytest.raises(ValueError):
            Schedule.from_dict(bad)
