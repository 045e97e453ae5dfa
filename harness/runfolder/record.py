"""``result.json`` read back and checked: the typed record every reader of it uses.

:func:`load_record` turns a run folder's ``result.json`` into a :class:`ResultRecord`, or
raises :class:`RecordError` with one line naming the file and what is wrong with it;
:func:`record_from_document` does the same for a document already decoded. The HTML pages,
``sweep``, the namespace runner, ``history.jsonl``, the verdict-time bench and
``harness report --rejudge`` all read this record, so none spells a field's path again.

Required: ``verdict.status`` and ``verdict.message``, ``scenario.name``, ``mode``,
``measured`` and ``thresholds``. Optional sections (``series``,
``measured.latency_ms_corrected``, ``extra.versions``, ``measured.stopped_early``...) may be
missing, e.g. in files written before they existed; such files still load.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.checker.not_tested import NotTested
from harness.checker.verdict import Verdict
from harness.faults import FaultKind, member_kinds
from harness.runfolder.folder import RESULT_FILE_NAME, RunFolder
from harness.schedule import Schedule
from harness.thresholds import CheckResult

VERDICT_STATUSES = ("PASS", "FAIL", "ERROR")
CHECK_STATUSES = ("holding", "broken", "no_data")

LatencyTable = dict[str, dict[str, dict[str, Any]]]
"""``{op: {member_kind: {"samples", "failed", "p50_ms", "p90_ms", "p99_ms", ...}}}``."""


class RecordError(Exception):
    """``result.json`` cannot be used: the message is one line naming the path and the problem.

    (The pages call it ``RecordError``: a report cannot be built from such a file.)
    """


@dataclass(frozen=True)
class JoinPoint:
    """One join (or delivery): seconds since load started, latency (ms), ``fast``/``slow``,
    success."""

    t_s: float
    latency_ms: float
    member_kind: str
    ok: bool
    corrected_ms: float | None = None  # from the join's intended start (coordinated omission)


@dataclass(frozen=True)
class UnfinishedPoint:
    """An operation still waiting when the run ended: when (the end), which, whose, its age."""

    t_s: float
    op: str
    member_kind: str
    age_ms: float


@dataclass(frozen=True)
class Series:
    """The time series of a run (``result.json`` ``series``), times relative to load start.

    Attributes:
        duration_s: Seconds from load start to load stop.
        joins: Every join, in time order.
        lock_reports: ``(t_s, kind)`` per lock report, in time order.
        fault_window_s: ``(start_s, end_s)`` while the faults were on, None if never.
        lock_durations: ``(t_s, kind, duration_ms)`` per wait, hold or held-across-await
            report: how long it had lasted when reported (empty in older result files).
        generator_lag: ``(t_s, process, max_ms)`` per Locust process and second: the worst
            lag of its event loop in that window (empty when not measured).
        sampled: Series the harness sampled during the run (harness.measure.series: Prometheus
            metrics, the target's RSS in bytes and threads), name to ``(t_s, value)`` points.
        sampled_problems: Why a sampled series has no (or not every) point, by name.
        deliveries: Deliveries, in time order, thinned on long runs (``deliver_count`` is
            how many there were); empty in older result files.
        deliver_count: How many deliveries the run had.
        unfinished: Operations still waiting at the end, drawn at their age.
        failed_per_second: ``(second, op, count)``: failed operations per whole second.
        lost: ``(t_s, member_kind, count)``: deliveries owed and lost, by when their message
            was sent; None when not recorded (delivery loss not measured, or an older
            result file).
    """

    duration_s: float
    joins: tuple[JoinPoint, ...]
    lock_reports: tuple[tuple[float, str], ...]
    fault_window_s: tuple[float, float] | None
    lock_durations: tuple[tuple[float, str, float], ...] = ()
    generator_lag: tuple[tuple[float, str, float], ...] = ()
    sampled: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    sampled_problems: Mapping[str, str] = field(default_factory=dict)
    deliveries: tuple[JoinPoint, ...] = ()
    deliver_count: int = 0
    unfinished: tuple[UnfinishedPoint, ...] = ()
    failed_per_second: tuple[tuple[float, str, float], ...] = ()
    lost: tuple[tuple[float, str, float], ...] | None = None

    @property
    def end_s(self) -> float:
        """The last time the run covers: its duration, or a later sample or report."""
        times = [self.duration_s, *(p.t_s for p in self.joins), *(t for t, _ in self.lock_reports),
                 *(p.t_s for p in self.unfinished)]
        return max(times)

    @property
    def chart_end_s(self) -> float:
        """Where a time axis ends: :attr:`end_s`, a little further where operations were still
        waiting at the end, so their markers there are drawn whole."""
        margin = 0.025 * (self.end_s - self.start_s) if self.unfinished else 0.0
        return self.end_s + margin

    def points(self, op: str) -> tuple[JoinPoint, ...]:
        """The finished ``join`` or ``deliver`` operations."""
        return self.joins if op == "join" else self.deliveries if op == "deliver" else ()

    def unfinished_of(self, op: str) -> tuple[UnfinishedPoint, ...]:
        """The operations of ``op`` still waiting when the run ended."""
        return tuple(point for point in self.unfinished if point.op == op)

    @property
    def start_s(self) -> float:
        """The first time the run covers: 0, or an earlier sample (arrived before load start)."""
        return min([0.0, *(p.t_s for p in self.joins), *(t for t, _ in self.lock_reports)])


@dataclass(frozen=True)
class ResultRecord:
    """One run's ``result.json``, typed: what the pages show and what the other readers use.

    Attributes:
        run_dir: The run folder (holds ``result.json``).
        run_id: ``extra.run_id``, or the folder name.
        mode: Server mode (``naive``, ``spawn``, ``fixed``, ``external``).
        scenario: ``result.json`` ``scenario`` as written.
        status: ``PASS``, ``FAIL`` or ``ERROR``.
        message: The verdict's one-line message.
        component_errors: Harness components that broke.
        checks: One result per threshold check, in scenario order.
        latency: ``measured.latency_ms`` (raw, from every sample).
        latency_corrected: ``measured.latency_ms_corrected``, None when the file has none.
        lock_reports: The lock reports as written (lockwatch ``Report.to_dict()`` dicts).
        started_utc: ``timings.run_started_utc`` ("" when missing).
        run_started: ``timings.run_started`` (Unix seconds; 0 when missing).
        duration_s: ``timings.duration_s``.
        versions: ``extra.versions`` (component name to version text).
        series: The time series, None when the file predates them.
        generator_lag: ``measured.generator_lag`` (the load generator's own lag: ``p99_ms``,
            ``max_ms``, ``limit_ms``, ``processes``...), None when not measured.
        stall: ``extra.stall`` (:mod:`harness.measure.stall_evidence`), None without a stall fault.
        schedule: ``extra.schedule``, the timeline as the run carried it out
            (:mod:`harness.schedule`); None in older result files.
        not_tested: ``verdict.not_tested``: per check as written, why it did not test the
            target (``every join[fast] got HTTP 403 (57 attempts, none succeeded)``).
        not_tested_entries: The same entries in full (:class:`NotTested`).
        broken_in_warmup: ``verdict.broken_in_warmup``: broken checks as measured over the
            warm-up alone.
        run_ended: ``timings.run_ended`` (``run_started`` when missing).
        fault_started: ``timings.fault_started``, None when the faults never went on.
        fault_ended: ``timings.fault_ended``, None when they never came off.
        sample_count: ``measured.samples``, None when missing.
        lock_report_count: ``measured.lock_reports`` (how many), None when missing.
        stopped_early: ``measured.stopped_early``: why an early verdict ended the run (None:
            it did not, or a file from before the field; see :attr:`early_verdict`).
        lock_reports_available: ``measured.lock_reports_available`` (True when missing).
        extra: ``extra`` as written (run id, label, pids, versions, early verdict...).
    """

    run_dir: Path
    run_id: str
    mode: str
    scenario: Mapping[str, Any]
    status: str
    message: str
    component_errors: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    latency: LatencyTable
    latency_corrected: LatencyTable | None
    lock_reports: tuple[Mapping[str, Any], ...]
    started_utc: str
    run_started: float
    duration_s: float
    versions: Mapping[str, str] = field(default_factory=dict)
    series: Series | None = None
    generator_lag: Mapping[str, Any] | None = None
    stall: Mapping[str, Any] | None = None
    not_tested: Mapping[str, str] = field(default_factory=dict)
    not_tested_entries: tuple[NotTested, ...] = ()
    broken_in_warmup: tuple[CheckResult, ...] = ()
    run_ended: float = 0.0
    fault_started: float | None = None
    fault_ended: float | None = None
    sample_count: int | None = None
    lock_report_count: int | None = None
    stopped_early: str | None = None
    lock_reports_available: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None

    @property
    def folder(self) -> RunFolder:
        """The run folder's files."""
        return RunFolder(self.run_dir)

    @property
    def label(self) -> str:
        """``extra.label`` (``[target] label`` or ``--label``), else the mode."""
        return str(self.extra.get("label") or self.mode)

    @property
    def early_verdict(self) -> Mapping[str, Any]:
        """``extra.early_verdict`` (check, detected_at, after_fault_s...); empty without one."""
        value = self.extra.get("early_verdict")
        return value if isinstance(value, dict) else {}

    def verdict(self) -> Verdict:
        """The verdict as written."""
        status = cast(Any, self.status)
        return Verdict(status, self.message, self.checks, self.component_errors,
                       self.not_tested_entries, self.broken_in_warmup)

    @property
    def member_fault_kinds(self) -> tuple[FaultKind, ...]:
        """The kinds of the scenario's member faults (``scenario.faults``), each once
        (:func:`harness.faults.member_kinds`, as :attr:`Scenario.member_fault_kinds
        <harness.scenario.Scenario.member_fault_kinds>` gives them to the live run)."""
        faults = self.scenario.get("faults")
        return member_kinds(str(fault.get("kind")) for fault in faults
                            if isinstance(fault, Mapping)) if isinstance(faults, list) else ()

    @property
    def scenario_name(self) -> str:
        return str(self.scenario.get("name", "?"))

    def latency_stat(self, op: str, member_kind: str, stat: str, corrected: bool = False
                     ) -> float | None:
        """One figure, e.g. ``("join", "fast", "p99_ms")``; None when it was not measured."""
        table = self.latency_corrected if corrected else self.latency
        value: Any = ((table or {}).get(op) or {}).get(member_kind, {}).get(stat)
        return float(value) if _is_number(value) else None

    def check_limit(self, subject: str) -> float | None:
        """The limit of the first check on ``subject`` (e.g. ``join[fast].p99``), if any."""
        for check in self.checks:
            if check.subject == subject:
                return check.limit
        return None


def load_record(run_dir: str | Path) -> ResultRecord:
    """Read and check ``run_dir/result.json``.

    Raises:
        RecordError: the file is missing, unreadable, not JSON, or lacks a field the report
            needs (the message names the field).
    """
    run_dir = Path(run_dir)
    path = RunFolder(run_dir).result
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot be read: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON: {exc}") from None
    return record_from_document(run_dir, document, where=str(path))


def record_from_document(run_dir: str | Path, document: Any, where: str = RESULT_FILE_NAME
                         ) -> ResultRecord:
    """The record of a decoded ``result.json`` document of the run folder ``run_dir``.

    Raises:
        RecordError: a field is missing or malformed (``where`` begins the message).
    """
    try:
        return _record(Path(run_dir), document)
    except _Malformed as exc:
        raise RecordError(f"{where}: {exc}") from None


class _Malformed(Exception):
    """A field of ``result.json`` is missing or of the wrong type."""


def _record(run_dir: Path, document: Any) -> ResultRecord:
    root = _mapping(document, "the document")
    verdict = _mapping(root.get("verdict"), "verdict")
    status = verdict.get("status")
    if status not in VERDICT_STATUSES:
        raise _Malformed(f"verdict.status must be one of {', '.join(VERDICT_STATUSES)}, "
                         f"got {status!r}")
    scenario = _mapping(root.get("scenario"), "scenario")
    _string(scenario.get("name"), "scenario.name")
    measured = _mapping(root.get("measured"), "measured")
    timings = _mapping(root.get("timings", {}), "timings")
    extra = _mapping(root.get("extra", {}), "extra")
    versions = _mapping(extra.get("versions", {}), "extra.versions")
    corrected = measured.get("latency_ms_corrected")
    return ResultRecord(
        run_dir=run_dir,
        run_id=str(extra.get("run_id") or run_dir.name),
        mode=_string(root.get("mode"), "mode"),
        scenario=scenario,
        status=status,
        message=_string(verdict.get("message"), "verdict.message"),
        component_errors=tuple(str(error) for error in _list(
            root.get("component_errors", []), "component_errors")),
        checks=tuple(_check(item, f"thresholds[{index}]") for index, item in enumerate(
            _list(root.get("thresholds"), "thresholds"))),
        latency=_latency_table(measured.get("latency_ms"), "measured.latency_ms"),
        latency_corrected=(None if corrected is None else
                           _latency_table(corrected, "measured.latency_ms_corrected")),
        lock_reports=tuple(_mapping(item, f"lock_reports[{index}]") for index, item in enumerate(
            _list(root.get("lock_reports", []), "lock_reports"))),
        started_utc=str(timings.get("run_started_utc") or ""),
        run_started=_number(timings.get("run_started", 0.0), "timings.run_started"),
        duration_s=_number(timings.get("duration_s", 0.0), "timings.duration_s"),
        versions={str(key): str(value) for key, value in versions.items()},
        series=None if root.get("series") is None else _series(root["series"]),
        generator_lag=(None if measured.get("generator_lag") is None else
                       _mapping(measured["generator_lag"], "measured.generator_lag")),
        stall=(None if extra.get("stall") is None else
               _mapping(extra["stall"], "extra.stall")),
        not_tested={str(entry.get("check")): str(entry.get("summary", ""))
                    for entry in _list(verdict.get("not_tested", []), "verdict.not_tested")
                    if isinstance(entry, dict)},
        not_tested_entries=tuple(
            _not_tested(item, f"verdict.not_tested[{index}]") for index, item in enumerate(
                _list(verdict.get("not_tested", []), "verdict.not_tested"))),
        broken_in_warmup=tuple(
            _check(item, f"verdict.broken_in_warmup[{index}]") for index, item in enumerate(
                _list(verdict.get("broken_in_warmup", []), "verdict.broken_in_warmup"))),
        run_ended=_number(timings.get("run_ended", timings.get("run_started", 0.0)),
                          "timings.run_ended"),
        fault_started=_optional_number(timings.get("fault_started"), "timings.fault_started"),
        fault_ended=_optional_number(timings.get("fault_ended"), "timings.fault_ended"),
        sample_count=_optional_count(measured.get("samples"), "measured.samples"),
        lock_report_count=_optional_count(measured.get("lock_reports"), "measured.lock_reports"),
        stopped_early=(None if measured.get("stopped_early") is None else
                       _string(measured["stopped_early"], "measured.stopped_early")),
        lock_reports_available=measured.get("lock_reports_available", True) is not False,
        extra=extra,
        schedule=_schedule(extra.get("schedule")),
    )


def _schedule(value: Any) -> Schedule | None:
    """``extra.schedule``; None when absent (an older run folder)."""
    if value is None:
        return None
    try:
        return Schedule.from_dict(value)
    except ValueError as exc:
        raise _Malformed(f"extra.schedule: {exc}") from None


def _not_tested(item: Any, where: str) -> NotTested:
    try:
        return NotTested.from_dict(_mapping(item, where))
    except (KeyError, TypeError, ValueError) as exc:
        raise _Malformed(f"{where} is malformed: {exc}") from None


def _optional_number(value: Any, where: str) -> float | None:
    return None if value is None else _number(value, where)


def _optional_count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{where} must be an integer >= 0, got {_kind(value)}")
    return value


def _check(item: Any, where: str) -> CheckResult:
    data = _mapping(item, where)
    status = data.get("status")
    if status not in CHECK_STATUSES:
        raise _Malformed(f"{where}.status must be one of {', '.join(CHECK_STATUSES)}, "
                         f"got {status!r}")
    measured = data.get("measured")
    samples = data.get("samples", 0)
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise _Malformed(f"{where}.samples must be an integer, got {samples!r}")
    reason = data.get("reason")
    return CheckResult(
        check=_string(data.get("check"), f"{where}.check"),
        subject=_string(data.get("subject"), f"{where}.subject"),
        operator=_string(data.get("operator"), f"{where}.operator"),
        limit=_number(data.get("limit"), f"{where}.limit"),
        measured=None if measured is None else _number(measured, f"{where}.measured"),
        unit=_string(data.get("unit", ""), f"{where}.unit"),
        status=status,
        samples=samples,
        reason=None if reason is None else str(reason),
    )


def _latency_table(value: Any, where: str) -> LatencyTable:
    table = _mapping(value, where)
    for op, kinds in table.items():
        for kind, statistics in _mapping(kinds, f"{where}.{op}").items():
            _mapping(statistics, f"{where}.{op}.{kind}")
    return cast(LatencyTable, table)


def _series(value: Any) -> Series:
    data = _mapping(value, "series")
    joins = []
    for where, point in _points(data, "join", "[t_s, latency_ms, member_kind, ok, corrected_ms]",
                                4, 5):
        t_s, latency_ms, member_kind, ok = point[:4]
        corrected = point[4] if len(point) == 5 else None
        joins.append(JoinPoint(_number(t_s, where), _number(latency_ms, where),
                               _string(member_kind, where), bool(ok),
                               None if corrected is None else _number(corrected, where)))
    deliveries = []
    for where, point in _points(data, "deliver", "[t_s, latency_ms, member_kind, ok]", 4):
        deliveries.append(JoinPoint(_number(point[0], where), _number(point[1], where),
                                    _string(point[2], where), bool(point[3])))
    unfinished = []
    for where, point in _points(data, "unfinished", "[t_s, op, member_kind, age_ms]", 4):
        unfinished.append(UnfinishedPoint(_number(point[0], where), _string(point[1], where),
                                          _string(point[2], where), _number(point[3], where)))
    failed = _timed_figures(data, "failed_per_second", "[second, op, count]")
    count = data.get("deliver_count", len(deliveries))
    if isinstance(count, bool) or not isinstance(count, int):
        raise _Malformed(f"series.deliver_count must be an integer, got {_kind(count)}")
    reports = []
    for where, point in _points(data, "lock_reports", "[t_s, kind]", 2):
        reports.append((_number(point[0], where), _string(point[1], where)))
    durations = _timed_figures(data, "lock_durations", "[t_s, kind, duration_ms]")
    window = data.get("fault_window_s")
    fault_window = None
    if window is not None:
        if not isinstance(window, list) or len(window) != 2:
            raise _Malformed("series.fault_window_s must be [start_s, end_s] or null")
        fault_window = (_number(window[0], "series.fault_window_s"),
                        _number(window[1], "series.fault_window_s"))
    lag = _timed_figures(data, "generator_lag", "[t_s, process, max_ms]")
    lost = (None if data.get("lost") is None
            else tuple(_timed_figures(data, "lost", "[t_s, member_kind, count]")))
    sampled = _mapping(data.get("sampled", {}), "series.sampled")
    points = {
        str(name): tuple((_number(point[0], f"series.sampled.points[{name}]"),
                          _number(point[1], f"series.sampled.points[{name}]"))
                         for point in _list(values, f"series.sampled.points[{name}]")
                         if isinstance(point, list) and len(point) == 2)
        for name, values in _mapping(sampled.get("points", {}), "series.sampled.points").items()
    }
    problems = {str(name): str(reason) for name, reason in _mapping(
        sampled.get("problems", {}), "series.sampled.problems").items()}
    return Series(
        duration_s=_number(data.get("duration_s", 0.0), "series.duration_s"),
        joins=tuple(joins),
        lock_reports=tuple(reports),
        fault_window_s=fault_window,
        lock_durations=tuple(durations),
        generator_lag=tuple(lag),
        sampled=points,
        sampled_problems=problems,
        deliveries=tuple(deliveries),
        deliver_count=count,
        unfinished=tuple(unfinished),
        failed_per_second=tuple(failed),
        lost=lost,
    )


def _timed_figures(data: Mapping[str, Any], key: str, shape: str) -> list[tuple[float, str, float]]:
    """``series.KEY``: a list of ``[t_s, name, figure]`` points, ``shape`` naming their fields."""
    return [(_number(point[0], where), _string(point[1], where), _number(point[2], where))
            for where, point in _points(data, key, shape, 3)]


def _points(data: Mapping[str, Any], key: str, shape: str, *sizes: int
            ) -> list[tuple[str, list[Any]]]:
    """``series.KEY``'s points, each a JSON array of one of ``sizes`` elements (``shape``
    names them, for the message), with its place (``series.KEY[i]``) for messages."""
    points = []
    for index, point in enumerate(_list(data.get(key, []), f"series.{key}")):
        where = f"series.{key}[{index}]"
        if not isinstance(point, list) or len(point) not in sizes:
            raise _Malformed(f"{where} must be {shape}")
        points.append((where, point))
    return points


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} must be a JSON object, got {_kind(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{where} must be a JSON array, got {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{where} must be a string, got {_kind(value)}")
    return value


def _number(value: Any, where: str) -> float:
    if not _is_number(value):
        raise _Malformed(f"{where} must be a finite number, got {_kind(value)}")
    return float(value)


def _kind(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    if value is None:
        return "null or nothing"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for python_type, name in names.items():
        if isinstance(value, python_type):
            return f"{name} ({json.dumps(value)[:40]})" if python_type in (str, bool) else name
    return f"a number ({value!r})" if isinstance(value, int | float) else type(value).__name__
