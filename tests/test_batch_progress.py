"""Progress lines of a batch of runs (issue 22 part 7): counts and time left, on a fake clock;
the scale bench's and the sweep's lines say what each step or run found."""

from __future__ import annotations

import io

import pytest

from harness.bench.scale import planned_steps, step_outcome
from harness.reports.batch_progress import BatchProgress, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (42.4, "42s"), (185, "3m05s"),
                                               (3725, "1h02m"), (-3, "0s")])
def test_durations_are_short(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_each_finished_run_prints_its_count_and_the_time_left() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = BatchProgress("sweep", 4, at_most=True, stream=out, clock=clock)
    clock.now += 30
    progress.run_finished("10ms run 1/2: PASS")
    clock.now += 50
    progress.run_finished("10ms run 2/2: PASS")
    first, second = out.getvalue().splitlines()
    assert first == "[sweep 1/<=4] 10ms run 1/2: PASS  (1 run in 30s; about 1m30s left)"
    assert second == "[sweep 2/<=4] 10ms run 2/2: PASS  (2 runs in 1m20s; about 1m20s left)"


def test_the_last_planned_run_has_no_time_left_and_more_runs_raise_the_plan() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = BatchProgress("matrix repeat", 1, stream=out, clock=clock)
    clock.now += 10
    progress.run_finished("naive FAIL")
    progress.run_finished("naive FAIL")
    assert out.getvalue().splitlines() == [
        "[matrix repeat 1/1] naive FAIL  (1 run in 10s)",
        "[matrix repeat 2/2] naive FAIL  (2 runs in 10s)"]


def test_a_budget_caps_the_time_left() -> None:
    clock = FakeClock()
    progress = BatchProgress("scale", 10, at_most=True, budget_s=100, stream=io.StringIO(),
                             clock=clock)
    clock.now += 20
    progress.run_finished("100 members: held")
    # Nine more runs of 20 s would be 180 s; the budget leaves 80 s, plus the run it lets end.
    assert progress.left_s() == pytest.approx(100)


def test_the_scale_search_plans_its_doublings_and_one_bisection() -> None:
    assert planned_steps(100, 3200, bisect=True) == 7  # 100..3200 doubling, then one bisection
    assert planned_steps(10, 20, bisect=False) == 2
    step = {"members": 400, "stalled": False, "inconclusive": False, "held": True,
            "join_p99_ms": 87.6, "verdict": "PASS"}
    assert step_outcome(step) == "400 members: held, join p99 88 ms (PASS)"
    assert step_outcome({**step, "held": False, "join_p99_ms": None, "verdict": "ERROR"}) == (
        "400 members: failed, no joins (ERROR)")
    # A failed step says why.
    assert step_outcome({**step, "held": False, "verdict": "FAIL", "not_held_because": [
        "the server refused 3 of the members' frames", "1.5% of operations failed"]}) == (
        "400 members: failed, join p99 88 ms (FAIL): the server refused 3 of the members' "
        "frames; 1.5% of operations failed")
    assert step_outcome({**step, "held": False, "inconclusive": True}) == (
        "400 members: starved, join p99 88 ms (PASS)")
