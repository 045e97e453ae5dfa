"""A run's timeline as data: timed steps, built once from the scenario's ``[timing]``.

The planned schedule (:meth:`Schedule.planned`)::

    0 s                   warm-up
    warmup_s              fault       faults on
    warmup_s + fault_s    cool-down   faults off
    total_s               end         (the run stops)

An early verdict (an ``abort_on_fail`` check broken) replaces what is still to come
(:meth:`Schedule.after_early_verdict`): an ``evidence`` window with the faults still on, so the
report shows what the breach did; then, where a member fault is still on, a ``recovery`` phase
that lifts it and watches the member clear (at most the cool-down; it ends as soon as the
stall check sees the backlog read, :attr:`Step.until_cleared`); then the end.

:class:`~harness.run.ChaosRun` carries the steps out as they fall due; the progress line
(:meth:`Schedule.phase_at`, :meth:`Schedule.left_s`) and result.json (:meth:`Schedule.to_dict`,
read by the report) read the same steps. Nothing else works a phase out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from harness.scenario import TimingSettings

__all__ = ["COOL_DOWN", "END", "EVIDENCE", "FAULT", "FAULTS_OFF", "FAULTS_ON", "RECOVERY",
           "Schedule", "Step", "WARM_UP"]

WARM_UP = "warm-up"
FAULT = "fault"
COOL_DOWN = "cool-down"
EVIDENCE = "evidence"
RECOVERY = "recovery"
END = "end"
"""The phase of the step that ends the run."""

FAULTS_ON = "faults on"
FAULTS_OFF = "faults off"


@dataclass(frozen=True)
class Step:
    """One moment of the timeline.

    Attributes:
        at_s: Seconds after the run's start (its first sample).
        phase: The phase that begins here (:data:`END` ends the run).
        action: What the run does then: :data:`FAULTS_ON`, :data:`FAULTS_OFF`, or ``""``.
        until_cleared: The phase may end before the next step, as soon as a member fault
            is seen cleared (a recovery).
    """

    at_s: float
    phase: str
    action: str = ""
    until_cleared: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "phase": self.phase, "action": self.action,
                "until_cleared": self.until_cleared}

    @classmethod
    def from_dict(cls, data: Any) -> Step:
        """A step read back from result.json.

        Raises:
            ValueError: not a step.
        """
        if not isinstance(data, dict) or not isinstance(data.get("at_s"), int | float) \
                or not isinstance(data.get("phase"), str):
            raise ValueError(f"not a schedule step: {data!r}")
        return cls(float(data["at_s"]), data["phase"], str(data.get("action") or ""),
                   bool(data.get("until_cleared")))


@dataclass(frozen=True)
class Schedule:
    """The timeline: steps in time order, the last one :data:`END`."""

    steps: tuple[Step, ...]

    @classmethod
    def planned(cls, timing: TimingSettings, faults: bool) -> Schedule:
        """The scenario's timeline; the fault phase switches faults only where there are any."""
        fault_start, fault_end = timing.warmup_s, timing.warmup_s + timing.fault_s
        return cls((
            Step(0.0, WARM_UP),
            Step(fault_start, FAULT, FAULTS_ON if faults else ""),
            Step(fault_end, COOL_DOWN, FAULTS_OFF if faults else ""),
            Step(timing.total_s, END),
        ))

    def after_early_verdict(self, at_s: float, evidence_window_s: float, recovery_s: float,
                            member_faults_on: bool) -> Schedule:
        """The timeline once an early verdict came at ``at_s``: the steps up to then, an
        evidence window, a recovery where ``member_faults_on`` (and they are still on when
        the window closes), then the end; never later than the planned end."""
        planned_end = self.end_s
        past = tuple(step for step in self.steps if step.at_s <= at_s)
        evidence_end = min(at_s + evidence_window_s, planned_end)
        # A planned lift inside the window still happens (the faults were due off then).
        lifts = tuple(replace(step, phase=EVIDENCE) for step in self.steps
                      if at_s < step.at_s < evidence_end and step.action == FAULTS_OFF)
        steps = (*past, Step(at_s, EVIDENCE), *lifts)
        if member_faults_on and not lifts and evidence_end < planned_end:
            steps += (Step(evidence_end, RECOVERY, FAULTS_OFF, until_cleared=True),
                      Step(min(evidence_end + recovery_s, planned_end), END))
        else:
            steps += (Step(evidence_end, END),)
        return Schedule(steps)

    @property
    def end_s(self) -> float:
        """When the run ends (the :data:`END` step)."""
        return self.steps[-1].at_s

    @property
    def fault_start_s(self) -> float:
        """When the fault phase begins (where an early verdict may first be judged)."""
        return next((step.at_s for step in self.steps if step.phase == FAULT), self.end_s)

    def step_at(self, elapsed_s: float) -> Step:
        """The step in force ``elapsed_s`` seconds into the run."""
        current = self.steps[0]
        for step in self.steps:
            if step.at_s > elapsed_s:
                break
            current = step
        return current

    def phase_at(self, elapsed_s: float) -> str:
        """The phase ``elapsed_s`` seconds into the run (``"fault"``, ...)."""
        return self.step_at(elapsed_s).phase

    def left_s(self, elapsed_s: float) -> float:
        """Seconds left until the end, at most (a recovery may end sooner)."""
        return max(0.0, self.end_s - elapsed_s)

    def due(self, done: int, elapsed_s: float) -> list[Step]:
        """The steps after the first ``done`` whose time has come."""
        return [step for step in self.steps[done:] if step.at_s <= elapsed_s]

    def to_dict(self) -> list[dict[str, Any]]:
        """The steps as JSON (result.json's ``schedule``)."""
        return [step.to_dict() for step in self.steps]

    @classmethod
    def from_dict(cls, data: Any) -> Schedule:
        """The schedule read back from result.json.

        Raises:
            ValueError: not a list of steps ending with :data:`END`.
        """
        if not isinstance(data, list) or not data:
            raise ValueError(f"a schedule is a non-empty list of steps, got {data!r}")
        steps = tuple(Step.from_dict(item) for item in data)
        if steps[-1].phase != END:
            raise ValueError("a schedule's last step must be its end")
        return cls(steps)

    def phases(self) -> list[tuple[str, float, float]]:
        """Each phase with its start and end in seconds, for a report: the run as it went."""
        return [(step.phase, step.at_s, following.at_s)
                for step, following in zip(self.steps, self.steps[1:], strict=False)
                if following.at_s > step.at_s]

    def ended_at(self, at_s: float) -> Schedule:
        """The timeline as it went when the run ended at ``at_s`` (e.g. a recovery that saw
        the member clear before its time): the steps up to then, then the end."""
        return Schedule((*(step for step in self.steps if step.at_s < at_s and step.phase != END),
                         Step(at_s, END)))
