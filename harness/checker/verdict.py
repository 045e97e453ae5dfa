"""The verdict of a run: PASS (exit 0), FAIL (exit 1) or ERROR (exit 2).

Rules, in order:

1. ERROR when any harness component broke (``Measurements.component_errors``): the
   measurements cannot be trusted, whatever they say.
1a. ERROR "the target was not tested" when a check is measured on operations of which not one
   succeeded (harness.checker.not_tested): every join got HTTP 403, or closed with code 3501.
   Nothing
   seen is not a verdict, so this outranks every broken check (``errors.ratio = 1`` among
   them), and an early verdict that stopped the run on one.
1b. ERROR "load generator overloaded" when a check is broken while the load generator's own
   lag p99 (``Measurements.generator_lag``, worst Locust process) is above the scenario's
   ``max_generator_lag``: the machine stalled, so the broken check cannot be blamed on the
   target. Without a broken check, lag changes nothing (the run still shows it). A broken
   check read from the target itself (lock reports, a Prometheus metric, RSS, threads:
   ``CheckResult.at_target``) is not excused: the generator's lag cannot have caused it.
2. FAIL when any check is broken: the system under test demonstrably violated a threshold. A
   broken check outranks checks without data, because a server that stalls completely (the
   failure this harness hunts) also starves some metrics of samples. It also outranks a fault
   that did not take effect (``Measurements.fault_not_in_effect``, e.g. a stall that never
   reached backpressure, typically because an early verdict ended the run first): the broken
   checks are evidence on their own, and the message adds the fault's state. A broken check
   that is also broken over the warm-up alone, before any fault (harness.checker.warmup), says so:
   ``already broken in the warm-up, before any fault: ...``.
3. ERROR when a fault did not take effect: the run did not test what it was meant to test.
4. ERROR when any check has too few samples to judge.
5. PASS otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from harness.checker.not_tested import NotTested, not_tested
from harness.checker.unfinished import describe_unfinished
from harness.checker.warmup import before_faults
from harness.measure.measurements import Measurements
from harness.scenario import Scenario, ThresholdSettings
from harness.thresholds import Check, CheckResult
from harness.thresholds.base import EVERY_OPERATION

VerdictStatus = Literal["PASS", "FAIL", "ERROR"]

EXIT_CODES: dict[VerdictStatus, int] = {"PASS": 0, "FAIL": 1, "ERROR": 2}
"""Process exit code for each verdict status."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of a run.

    Attributes:
        status: ``PASS``, ``FAIL`` or ``ERROR``.
        message: One line starting with the status, e.g.
            ``"FAIL: join[fast].p99 = 812 ms (limit < 250 ms)"``.
        check_results: One result per scenario check, in scenario order.
        component_errors: Harness component failures that caused an ERROR, if any.
        not_tested: The checks none of whose operations succeeded, with the cause; any
            makes the verdict ERROR (harness.checker.not_tested).
        broken_in_warmup: Each broken check of a FAIL that was broken over the warm-up
            alone too, as measured there.
    """

    status: VerdictStatus
    message: str
    check_results: tuple[CheckResult, ...] = ()
    component_errors: tuple[str, ...] = ()
    not_tested: tuple[NotTested, ...] = ()
    broken_in_warmup: tuple[CheckResult, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 for PASS, 1 for FAIL, 2 for ERROR."""
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        """``result.json``'s ``verdict``: status, exit code, message, component errors, the
        checks not tested (:meth:`NotTested.to_dict`) and those broken in the warm-up
        (:meth:`CheckResult.to_dict`, as measured over the warm-up).

        The check results have a section of their own there (``thresholds``).
        """
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "component_errors": list(self.component_errors),
            "not_tested": [entry.to_dict() for entry in self.not_tested],
            "broken_in_warmup": [result.to_dict() for result in self.broken_in_warmup],
        }


def evaluate_checks(
    checks: Iterable[Check], measurements: Measurements, min_samples: int
) -> tuple[CheckResult, ...]:
    """Evaluate every check; pure, so it can also drive live progress output."""
    return tuple(check.evaluate(measurements, min_samples) for check in checks)


def judge(scenario: Scenario, measurements: Measurements) -> Verdict:
    """Evaluate the scenario's checks on the measurements and decide the verdict; its message
    also names the operations that never finished (harness.checker.unfinished)."""
    return judge_thresholds(scenario.thresholds, measurements)


def judge_thresholds(thresholds: ThresholdSettings, measurements: Measurements) -> Verdict:
    """:func:`judge` by ``[thresholds]`` alone: all a verdict reads of a scenario, so a run
    folder can be judged again by what its ``result.json`` recorded
    (harness.reports.rejudge)."""
    verdict = _judge_checks(thresholds, measurements)
    unfinished = describe_unfinished(measurements.samples)
    if not unfinished:
        return verdict
    return replace(verdict, message=f"{verdict.message}; {unfinished}")


def _judge_checks(thresholds: ThresholdSettings, measurements: Measurements) -> Verdict:
    results = evaluate_checks(thresholds.checks, measurements, thresholds.min_samples)
    component_errors = tuple(_one_line(error) for error in measurements.component_errors)
    if component_errors:
        return Verdict("ERROR", "ERROR: " + "; ".join(component_errors), results, component_errors)
    unseen = not_tested(thresholds.checks, measurements.samples,
                        measurements.run_started)
    if unseen:
        message = "ERROR: the target was not tested: " + not_tested_text(unseen)
        if measurements.stopped_early:
            message += f" ({measurements.stopped_early}; not a FAIL: nothing got through)"
        return Verdict("ERROR", message, results, not_tested=unseen)
    not_in_effect = tuple(_one_line(line) for line in measurements.fault_not_in_effect)
    broken = [result for result in results if result.status == "broken"]
    without_data = [result for result in results if result.status == "no_data"]
    # A lagging generator excuses only what it measures itself: a broken check read from
    # the target (its lock reports, metrics, process) stands whatever the lag.
    excusable = bool(broken) and not any(result.at_target for result in broken)
    overloaded = generator_overloaded(thresholds, measurements) if excusable else None
    if overloaded is not None:
        message = (f"ERROR: {overloaded}; not blamed on the target: "
                   + "; ".join(result.describe() for result in broken))
        if measurements.stopped_early:
            message += f" ({measurements.stopped_early})"
        return Verdict("ERROR", message, results, (overloaded,))
    if broken:
        message = "FAIL: " + "; ".join(result.describe() for result in broken)
        in_warmup = broken_in_warmup(thresholds, measurements, results)
        if in_warmup:
            message += "; already broken in the warm-up, before any fault: " + "; ".join(
                result.describe() for result in in_warmup)
        if without_data:
            message += "; also too few samples to judge: " + "; ".join(
                result.describe() for result in without_data
            )
        if measurements.stopped_early:
            message += f" ({measurements.stopped_early})"
        if not_in_effect:
            message += "; also " + "; ".join(not_in_effect)
        return Verdict("FAIL", message, results, broken_in_warmup=in_warmup)
    if not_in_effect:
        message = "ERROR: " + "; ".join(not_in_effect)
        if without_data:
            message += "; also too few samples to judge: " + "; ".join(
                result.describe() for result in without_data)
        return Verdict("ERROR", message, results, not_in_effect)
    if without_data:
        reasons = "; ".join(result.describe() for result in without_data)
        return Verdict("ERROR", f"ERROR: too few samples to judge: {reasons}", results)
    if not results:
        return Verdict("PASS", "PASS: no checks configured", results)
    return Verdict("PASS", f"PASS: all {len(results)} checks hold", results)


def not_tested_text(unseen: tuple[NotTested, ...]) -> str:
    """Each distinct cause once: a check on every operation (``errors.ratio``) is left out
    where a check on one kind of operation says the same more precisely."""
    precise = [entry for entry in unseen if entry.observed != EVERY_OPERATION] or list(unseen)
    return "; ".join(dict.fromkeys(entry.describe() for entry in precise))


def broken_in_warmup(thresholds: ThresholdSettings, measurements: Measurements,
                     results: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    """The broken checks that are broken over the warm-up alone too, measured there; empty
    when the faults never went on."""
    warmup = before_faults(measurements)
    if warmup is None:
        return ()
    min_samples = thresholds.min_samples
    again = (check.evaluate(warmup, min_samples)
             for check, result in zip(thresholds.checks, results, strict=True)
             if result.status == "broken")
    return tuple(result for result in again if result.status == "broken")


def generator_overloaded(thresholds: ThresholdSettings, measurements: Measurements
                         ) -> str | None:
    """``"load generator overloaded (lag p99 N ms ...)"`` when the worst Locust process's lag
    p99 is above ``[thresholds] max_generator_lag``; None when it is not, or not measured."""
    lag = measurements.generator_lag
    worst = lag.worst() if lag is not None else None
    limit_ms = thresholds.max_generator_lag_s * 1000
    if worst is None or worst.p99_ms <= limit_ms:
        return None
    return (f"load generator overloaded (lag p99 {worst.p99_ms:.0f} ms in Locust process "
            f"{worst.process}, limit {limit_ms:g} ms)")


def _one_line(text: str) -> str:
    """``text`` with line breaks collapsed to single spaces."""
    return " ".join(text.split())
