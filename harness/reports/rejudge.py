"""Judge a run again from its folder: ``harness report --rejudge RUN_DIR``.

A verdict is a judgement of what was recorded, so the same record judged by the same checks
gives the same verdict, and other checks can judge it without running anything again.
:func:`recorded_measurements` rebuilds the run's :class:`~harness.measure.measurements.Measurements`
from the files its recorders wrote, through the same readers the run's own final verdict used
(:data:`harness.runfolder.recorded.RECORDED`, one reader per recorded measurement), and from
``result.json``'s typed record (timings, lock reports, component errors);
:func:`rejudge` runs :func:`harness.checker.verdict.judge_thresholds` on them with the checks
recorded in ``result.json``, or with a scenario's or the caller's own checks.

Adding a measurement needs nothing here (see :mod:`harness.runfolder.recorded`). The verdict
is written to ``rejudged.json`` (the layout of ``result.json``; ``result.json`` itself keeps
the verdict given at the time) and printed.

A folder without ``result.json`` or ``samples.jsonl`` cannot be judged again: that is an ERROR
verdict with one line naming what is missing, never a PASS on nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checker.verdict import Verdict, judge_thresholds
from harness.measure.measurements import Measurements
from harness.reports.results import json_safe
from harness.runfolder.atomic import write_text_atomically
from harness.runfolder.record import RecordError, ResultRecord, load_record
from harness.runfolder.recorded import RunContext, read_recorded
from harness.scenario import ThresholdSettings
from harness.thresholds import Check, parse_check

__all__ = ["CannotRejudge", "Rejudged", "recorded_measurements",
           "recorded_thresholds", "rejudge", "write_rejudged"]


class CannotRejudge(Exception):
    """The folder lacks what a judgement needs (or the checks given are bad); one line."""


def recorded_measurements(record: ResultRecord) -> Measurements:
    """The measurements of the run, rebuilt from its folder (the readers of
    :data:`~harness.runfolder.recorded.RECORDED`, as the run's own final verdict reads them)
    and from its record.

    Raises:
        CannotRejudge: a file the judgement needs is missing.
    """
    if not record.folder.samples.is_file():
        raise CannotRejudge(f"{record.folder.samples}: missing; a run is judged again from the "
                            "samples it recorded")
    measurements = Measurements(
        lock_reports=[dict(report) for report in record.lock_reports],
        run_started=record.run_started, run_ended=record.run_ended,
        fault_started=record.fault_started, fault_ended=record.fault_ended,
        component_errors=list(record.component_errors),
        stopped_early=record.stopped_early or _stopped_early(record),
        lock_reports_available=record.lock_reports_available,
    )
    return read_recorded(RunContext.of_record(record), measurements).measurements


def recorded_thresholds(record: ResultRecord) -> ThresholdSettings:
    """The ``[thresholds]`` the run was judged by, as ``result.json`` recorded them.

    Raises:
        CannotRejudge: the record has no readable thresholds.
    """
    table = record.scenario.get("thresholds")
    if not isinstance(table, Mapping):
        raise CannotRejudge(f"{record.folder.result}: scenario.thresholds is missing; give "
                            "the checks with --check or --scenario")
    checks = _parse_checks(table.get("checks", []), "scenario.thresholds.checks")
    by_text = {check.text: check for check in checks}
    abort = tuple(by_text.get(text) or parse_check(text)
                  for text in _texts(table.get("abort_on_fail", []),
                                     "scenario.thresholds.abort_on_fail"))
    min_samples = table.get("min_samples", ThresholdSettings.min_samples)
    lag = table.get("max_generator_lag_s", ThresholdSettings.max_generator_lag_s)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int):
        raise CannotRejudge(f"{record.folder.result}: scenario.thresholds.min_samples must be "
                            f"an integer, got {min_samples!r}")
    if isinstance(lag, bool) or not isinstance(lag, int | float):
        raise CannotRejudge(f"{record.folder.result}: scenario.thresholds.max_generator_lag_s "
                            f"must be a number, got {lag!r}")
    return ThresholdSettings(min_samples=min_samples, checks=checks, abort_on_fail=abort,
                             max_generator_lag_s=float(lag))


@dataclass(frozen=True)
class Rejudged:
    """A run judged again.

    Attributes:
        record: ``result.json`` as the run wrote it (its verdict is the one given then).
        thresholds: The thresholds judged by now.
        verdict: The new verdict.
        measurements: What was judged (rebuilt from the folder), None when it could not be.
    """

    record: ResultRecord | None
    thresholds: ThresholdSettings | None
    verdict: Verdict
    measurements: Measurements | None = None


def rejudge(run_dir: str | Path, *, thresholds: ThresholdSettings | None = None,
            checks: Sequence[str] = ()) -> Rejudged:
    """Judge the run in ``run_dir`` again.

    Args:
        run_dir: The run folder.
        thresholds: Judge by these (a scenario's ``[thresholds]``) instead of the recorded.
        checks: Judge by these checks instead (each like ``"join[fast].p99 < 250ms"``),
            with the other threshold settings as recorded (or as ``thresholds``).

    A folder that cannot be judged gives an ERROR verdict naming the cause in one line.

    Raises:
        CannotRejudge: a check given is not valid (the message says why).
    """
    settings = thresholds
    if checks:
        parsed = _parse_checks(list(checks), "--check")
        settings = replace(settings or ThresholdSettings(), checks=parsed, abort_on_fail=())
    try:
        record = load_record(run_dir)
    except RecordError as exc:
        return Rejudged(None, settings, _cannot(str(exc)))
    try:
        if settings is None:
            settings = recorded_thresholds(record)
        elif checks and thresholds is None and isinstance(
                record.scenario.get("thresholds"), Mapping):
            recorded = recorded_thresholds(record)  # its min_samples and lag limit
            settings = replace(recorded, checks=settings.checks, abort_on_fail=())
        measurements = recorded_measurements(record)
    except CannotRejudge as exc:
        return Rejudged(record, settings, _cannot(str(exc)))
    return Rejudged(record, settings, judge_thresholds(settings, measurements), measurements)


def write_rejudged(rejudged: Rejudged) -> Path | None:
    """Write ``rejudged.json`` beside ``result.json``: the recorded document with the new
    ``verdict``, ``thresholds`` and ``scenario.thresholds``, and ``extra.rejudged`` naming
    the verdict given at the time. None when there is no record to start from."""
    record = rejudged.record
    if record is None:
        return None
    document = json.loads(record.folder.result.read_text(encoding="utf-8"))
    verdict = rejudged.verdict
    document["verdict"] = verdict.to_dict()
    document["thresholds"] = [result.to_dict() for result in verdict.check_results]
    if rejudged.thresholds is not None:
        document["scenario"]["thresholds"] = _thresholds_dict(rejudged.thresholds)
    document.setdefault("extra", {})["rejudged"] = {"verdict_given": record.status,
                                                    "message_given": record.message}
    text = json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n"
    return write_text_atomically(record.folder.rejudged, text)


def _thresholds_dict(thresholds: ThresholdSettings) -> dict[str, Any]:
    return {"min_samples": thresholds.min_samples,
            "checks": [check.text for check in thresholds.checks],
            "abort_on_fail": [check.text for check in thresholds.abort_on_fail],
            "max_generator_lag_s": thresholds.max_generator_lag_s}


def _parse_checks(value: Any, where: str) -> tuple[Check, ...]:
    checks = []
    for text in _texts(value, where):
        try:
            checks.append(parse_check(text))
        except ValueError as exc:
            raise CannotRejudge(f"{where}: {exc}") from None
    return tuple(checks)


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CannotRejudge(f"{where} must be a list of check strings, got {value!r}")
    return value


def _stopped_early(record: ResultRecord) -> str | None:
    """Why an early verdict ended the run, for a ``result.json`` from before
    ``measured.stopped_early`` (the text the run wrote, from ``extra.early_verdict``)."""
    early = record.early_verdict
    check, after = early.get("check"), early.get("after_fault_s")
    if not isinstance(check, str) or not isinstance(after, int | float):
        return None
    return f"stopped early by '{check}', {after:.1f} s into the fault"


def _cannot(cause: str) -> Verdict:
    message = f"ERROR: cannot judge again: {' '.join(cause.split())}"
    return Verdict("ERROR", message, (), (message.removeprefix("ERROR: "),))
