"""Reports of a finished run: ``result.json``, ``junit.xml`` and a terminal summary table.

``result.json`` is the complete machine-readable record (layout version
:data:`RESULT_FORMAT_VERSION`); ``junit.xml`` lets CI test reporters show one test case per
threshold check, valid against the Ant/Jenkins JUnit XSD.
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checker.unfinished import unfinished_summary
from harness.checker.verdict import Verdict
from harness.measure.measurements import MEMBER_KINDS, OPS, Measurements, Sample
from harness.runfolder.atomic import write_text_atomically
from harness.runfolder.folder import RunFolder
from harness.scenario import Scenario
from harness.thresholds.latency import nearest_rank_percentile

RESULT_FORMAT_VERSION = 1
SUMMARY_PERCENTILES: tuple[float, ...] = (50, 90, 99)
#: The error of an operation still waiting when the run ended (see :func:`is_unfinished`).
UNFINISHED_ERROR = "unfinished"
#: ``series.deliver`` keeps at most this many points (:func:`thin_deliveries`).
MAX_DELIVERY_POINTS = 4000
DELIVERY_BINS = 900

_XML_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def summarize_latencies(measurements: Measurements) -> dict[str, dict[str, dict[str, Any]]]:
    """Per operation and member kind: sample counts and latency statistics (ms) of ok samples.

    Returns ``{op: {member_kind: {"samples", "failed", "p50_ms", "p90_ms", "p99_ms",
    "max_ms", "mean_ms"}}}`` for every op/member kind that has samples; the statistics are None
    when there is no successful sample. Percentiles are nearest-rank, as in the checks.
    """
    latencies: dict[tuple[str, str], list[float]] = {}
    failures: dict[tuple[str, str], int] = {}
    for sample in measurements.samples:
        key = (sample.op, sample.member_kind)
        latencies.setdefault(key, [])
        failures.setdefault(key, 0)
        if sample.ok:
            latencies[key].append(sample.latency_ms)
        else:
            failures[key] += 1
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for op in OPS:
        for member_kind in MEMBER_KINDS:
            if (op, member_kind) not in latencies:
                continue
            ok_latencies = sorted(latencies[(op, member_kind)])
            statistics: dict[str, Any] = {
                "samples": len(ok_latencies) + failures[(op, member_kind)],
                "failed": failures[(op, member_kind)],
            }
            for percentile in SUMMARY_PERCENTILES:
                statistics[f"p{percentile:g}_ms"] = (
                    nearest_rank_percentile(ok_latencies, percentile) if ok_latencies else None
                )
            statistics["max_ms"] = ok_latencies[-1] if ok_latencies else None
            statistics["mean_ms"] = (
                math.fsum(ok_latencies) / len(ok_latencies) if ok_latencies else None
            )
            summary.setdefault(op, {})[member_kind] = statistics
    return summary


def summarize_corrected_latencies(
    measurements: Measurements,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Like :func:`summarize_latencies`, for latency corrected for coordinated omission.

    Only operations recorded on a schedule (join) have entries; figures come from the
    merged HdrHistograms (within 0.1%).
    """
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for op in OPS:
        for member_kind in MEMBER_KINDS:
            histogram = measurements.histograms.get(op, member_kind, "corrected")
            if histogram is not None:
                summary.setdefault(op, {})[member_kind] = histogram.summary(SUMMARY_PERCENTILES)
    return summary


def build_result(
    scenario: Scenario,
    mode: str,
    verdict: Verdict,
    measurements: Measurements,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``result.json`` document as a dict (see :func:`write_result_json`)."""
    return {
        "format_version": RESULT_FORMAT_VERSION,
        "scenario": scenario.to_dict(),
        "mode": mode,
        "verdict": verdict.to_dict(),
        "thresholds": [result.to_dict() for result in verdict.check_results],
        "measured": {
            "samples": len(measurements.samples),
            "failed_samples": sum(1 for sample in measurements.samples if not sample.ok),
            "lock_reports": len(measurements.lock_reports),
            # What the judgement read besides the run folder's files (harness report --rejudge).
            "lock_reports_available": measurements.lock_reports_available,
            "stopped_early": measurements.stopped_early,
            "delivery_order": (None if measurements.delivery_order is None
                               else measurements.delivery_order.to_dict()),
            # Operations still in flight at the end, per op and member kind (count, oldest).
            "unfinished": unfinished_summary(measurements.samples),
            "latency_ms": summarize_latencies(measurements),
            "latency_ms_corrected": summarize_corrected_latencies(measurements),
            "generator_lag": (
                None if measurements.generator_lag is None else
                measurements.generator_lag.summary(scenario.thresholds.max_generator_lag_s * 1000)
            ),
        },
        "lock_reports": list(measurements.lock_reports),
        "timings": {
            "run_started": measurements.run_started,
            "run_ended": measurements.run_ended,
            "run_started_utc": _utc_text(measurements.run_started),
            "duration_s": measurements.duration_s,
            "fault_started": measurements.fault_started,
            "fault_ended": measurements.fault_ended,
        },
        "component_errors": list(measurements.component_errors),
        "series": build_series(measurements),
        "extra": dict(extra),
    }


def build_series(measurements: Measurements) -> dict[str, Any]:
    """The compact time series that ``report.html`` draws, so it can be rebuilt from JSON alone.

    Times are seconds since ``run_started`` (negative for the few samples that arrive before
    load is declared started), rounded to milliseconds; latencies are rounded to microseconds.

    Returns ``{"origin": run_started, "duration_s": ..., "join": [[t_s, latency_ms,
    member_kind, ok, corrected_ms | None], ...], "deliver": [[t_s, latency_ms, member_kind,
    ok], ...], "deliver_count": N, "unfinished": [[t_s, op, member_kind, age_ms], ...],
    "failed_per_second": [[second, op, count], ...], "lock_reports": [[t_s, kind], ...],
    "lock_durations": [[t_s, kind, duration_ms], ...], "lost": [[t_s, member_kind, count],
    ...] | None, "fault_window_s": [start_s, end_s] |
    None, "generator_lag": [[t_s, process, max_ms], ...], "sampled": {"points": {name:
    [[t_s, value], ...]}, "problems": {name: reason}}}`` (``sampled``: the series the harness
    sampled, harness.measure.series: Prometheus metrics, the target's RSS and threads, and the
    operations in flight, harness.measure.inflight): every join
    sample (failed ones too, with how long the attempt took) and every lock report that
    carries a numeric ``time``, both in time order. ``deliver`` holds the deliveries, thinned
    past :data:`MAX_DELIVERY_POINTS` (:func:`thin_deliveries`; ``deliver_count`` is how many
    there were); ``unfinished`` the operations still waiting at the end (:func:`is_unfinished`:
    drawn at their age, kept out of ``join`` and ``deliver``); ``failed_per_second`` the other
    failures counted per whole second since load started and operation; ``lost`` the
    deliveries owed and lost, by when their message was sent, per receiving member kind, in
    time order (None when delivery loss was not measured). The fault window
    ends at ``run_ended`` when the faults were never switched off (an interrupted run).
    """
    origin = measurements.run_started

    def relative(unix_time: float) -> float:
        return round(unix_time - origin, 3)

    finished = [sample for sample in measurements.samples if not is_unfinished(sample)]
    joins = sorted((
        (relative(sample.time), round(sample.latency_ms, 3), sample.member_kind, sample.ok,
         None if sample.corrected_ms is None else round(sample.corrected_ms, 3))
        for sample in finished
        if sample.op == "join"
    ), key=lambda point: point[0])
    deliveries = [sample for sample in finished if sample.op == "deliver"]
    unfinished = sorted(
        (relative(sample.time), sample.op, sample.member_kind, round(sample.latency_ms, 3))
        for sample in measurements.samples if is_unfinished(sample))
    failed_per_second: dict[tuple[int, str], int] = {}
    for sample in finished:
        if not sample.ok:
            key = (math.floor(sample.time - origin), sample.op)
            failed_per_second[key] = failed_per_second.get(key, 0) + 1
    lock_reports = sorted(
        (relative(float(report["time"])), str(report.get("kind", "unknown")))
        for report in measurements.lock_reports
        if isinstance(report.get("time"), int | float) and not isinstance(report["time"], bool)
    )
    # How long each wait, hold or suspension had lasted when it was reported: the stall itself.
    lock_durations = sorted(
        (relative(float(report["time"])), str(report.get("kind", "unknown")),
         round(float(report["duration_s"]) * 1000, 3))
        for report in measurements.lock_reports
        if _is_time(report.get("time")) and _is_time(report.get("duration_s"))
        and float(report["duration_s"]) > 0
    )
    fault_window = None
    if measurements.fault_started is not None:
        fault_end = measurements.fault_ended or measurements.run_ended
        fault_window = [relative(measurements.fault_started), relative(fault_end)]
    return {
        "origin": origin,
        "duration_s": round(measurements.duration_s, 3),
        "join": [list(point) for point in joins],
        "deliver": [[relative(sample.time), round(sample.latency_ms, 3), sample.member_kind,
                     sample.ok] for sample in thin_deliveries(deliveries, measurements.duration_s)],
        "deliver_count": len(deliveries),
        "unfinished": [list(point) for point in unfinished],
        "failed_per_second": [[second, op, count] for (second, op), count
                              in sorted(failed_per_second.items())],
        "lock_reports": [list(point) for point in lock_reports],
        "lock_durations": [list(point) for point in lock_durations],
        "lost": None if measurements.delivery_order is None else [
            [relative(sent), kind, count]
            for sent, kind, count in sorted(measurements.delivery_order.lost_sent)],
        "fault_window_s": fault_window,
        # [t_s, process, worst lag of that window in ms], one per Locust process and second
        "generator_lag": [
            [relative(window.t1), window.process, round(window.max_ms, 3)]
            for window in sorted(measurements.generator_lag.windows, key=lambda w: w.t1)
        ] if measurements.generator_lag is not None else [],
        "sampled": measurements.sampled.to_dict(origin),
    }


def is_unfinished(sample: Sample) -> bool:
    """An operation still waiting when the run ended: the load generator records it as a failed
    sample with the error ``unfinished`` at the end of the run, its latency its age then."""
    return bool(getattr(sample, "unfinished", False)) or (
        not sample.ok and sample.error == UNFINISHED_ERROR)


def thin_deliveries(deliveries: list[Sample], duration_s: float) -> list[Sample]:
    """At most :data:`MAX_DELIVERY_POINTS` deliveries, in time order, for the charts.

    A run has many more deliveries than joins. Past the cap, every failed one is kept and,
    per member kind and each of :data:`DELIVERY_BINS` equal slices of the run, the fastest
    and the slowest: the chart keeps its shape, its spikes and its floor.
    """
    if len(deliveries) <= MAX_DELIVERY_POINTS:
        return sorted(deliveries, key=lambda sample: sample.time)
    start = min(sample.time for sample in deliveries)
    width = max(duration_s, 1e-3) / DELIVERY_BINS
    kept: dict[int, Sample] = {}
    extremes: dict[tuple[int, str], tuple[Sample, Sample]] = {}
    for sample in deliveries:
        if not sample.ok:
            kept[id(sample)] = sample
            continue
        key = (int((sample.time - start) / width), sample.member_kind)
        low, high = extremes.get(key, (sample, sample))
        extremes[key] = (min(low, sample, key=_latency), max(high, sample, key=_latency))
    for low, high in extremes.values():
        kept[id(low)] = low
        kept[id(high)] = high
    return sorted(kept.values(), key=lambda sample: sample.time)


def _latency(sample: Sample) -> float:
    return sample.latency_ms


def _is_time(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def write_result_json(
    run_dir: str | Path,
    scenario: Scenario,
    mode: str,
    verdict: Verdict,
    measurements: Measurements,
    extra: Mapping[str, Any],
) -> Path:
    """Write ``run_dir/result.json`` atomically and return its path.

    Keys: ``format_version``, ``scenario`` (:meth:`Scenario.to_dict`), ``mode`` (server mode),
    ``verdict`` (status, exit_code, message, component_errors), ``thresholds`` (one entry per
    check: check, subject, operator, limit, measured, unit, status, samples, reason),
    ``measured`` (sample/failure/lock-report counts, ``lock_reports_available``,
    ``stopped_early``, :func:`summarize_latencies`, and
    ``generator_lag``: the load generator's own lag, see harness.measure.generator_lag),
    ``lock_reports``, ``timings`` (Unix seconds plus ``run_started_utc`` and ``duration_s``),
    ``component_errors``, ``series`` (:func:`build_series`: what the HTML report draws) and
    ``extra`` (whatever the caller passed). Non-finite floats become
    ``null`` and non-JSON values their ``str()``, so the file is always strict JSON.
    """
    document = json_safe(build_result(scenario, mode, verdict, measurements, extra))
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return write_text_atomically(RunFolder(Path(run_dir)).result, text)


def write_junit_xml(
    run_dir: str | Path,
    run_name: str,
    verdict: Verdict,
    *,
    started_at: float | None = None,
    duration_s: float = 0.0,
) -> Path:
    """Write ``run_dir/junit.xml`` and return its path.

    One ``<testcase>`` per check (named by the check text, classname ``roomchaos.<run_name>``):
    broken checks carry ``<failure>``, checks without data ``<error>``, and so do checks none of
    whose operations succeeded (``type="not_tested"``, naming the cause: the target was not
    tested, harness.checker.not_tested). If harness components
    broke, one more test case ``harness components`` carries an ``<error>``. The document is
    ``<testsuites><testsuite ...>`` with every element and attribute the JUnit XSD requires.

    Args:
        run_dir: Directory to write into (must exist).
        run_name: Name of the test suite, e.g. ``"slow-member-naive"``.
        verdict: The verdict whose check results become test cases.
        started_at: Unix time the run started (suite ``timestamp``); now when None.
        duration_s: Run length in seconds (suite ``time``).
    """
    results = verdict.check_results
    not_tested = {entry.check: entry for entry in verdict.not_tested}
    failure_count = sum(1 for result in results
                        if result.status == "broken" and result.check not in not_tested)
    error_count = sum(1 for result in results
                      if result.status == "no_data" or result.check in not_tested)
    test_count = len(results) + (1 if verdict.component_errors else 0)
    error_count += 1 if verdict.component_errors else 0
    suite_name = _xml_text(run_name).strip() or "roomchaos"
    classname = f"roomchaos.{suite_name}"

    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        {
            "name": suite_name,
            "package": "roomchaos",
            "id": "0",
            "timestamp": _junit_timestamp(time.time() if started_at is None else started_at),
            "hostname": socket.gethostname() or "localhost",
            "tests": str(test_count),
            "failures": str(failure_count),
            "errors": str(error_count),
            "time": f"{max(duration_s, 0.0):.3f}",
        },
    )
    properties = ElementTree.SubElement(suite, "properties")
    for name, value in (("verdict", verdict.status), ("verdict_message", verdict.message)):
        ElementTree.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            {"name": _xml_text(result.check), "classname": classname, "time": "0"},
        )
        if result.check in not_tested:
            # Nothing got through: an error of the harness's test, not the target's failure.
            entry = not_tested[result.check]
            error = ElementTree.SubElement(
                case, "error", {"message": _xml_text(f"not tested: {entry.summary()}"),
                                "type": "not_tested"})
            error.text = _xml_text(f"check: {result.check}\nnot tested: {entry.describe()}")
        elif result.status == "broken":
            failure = ElementTree.SubElement(
                case, "failure", {"message": _xml_text(result.describe()), "type": "threshold"}
            )
            failure.text = _xml_text(
                f"check: {result.check}\nmeasured: {result.measured_text()} "
                f"over {result.samples} samples\nlimit: {result.limit_text()}"
            )
        elif result.status == "no_data":
            error = ElementTree.SubElement(
                case, "error", {"message": _xml_text(result.describe()), "type": "no_data"}
            )
            error.text = _xml_text(f"check: {result.check}\n{result.describe()}")
    if verdict.component_errors:
        case = ElementTree.SubElement(
            suite, "testcase", {"name": "harness components", "classname": classname, "time": "0"}
        )
        error = ElementTree.SubElement(
            case,
            "error",
            {"message": _xml_text("; ".join(verdict.component_errors)), "type": "component"},
        )
        error.text = _xml_text("\n".join(verdict.component_errors))
    ElementTree.SubElement(suite, "system-out").text = _xml_text(format_summary_table(verdict))
    ElementTree.SubElement(suite, "system-err").text = (
        "" if verdict.status == "PASS" else _xml_text(verdict.message)
    )
    ElementTree.indent(suites)
    text = ElementTree.tostring(suites, encoding="unicode", xml_declaration=False)
    return write_text_atomically(
        RunFolder(Path(run_dir)).junit, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"
    )


def format_summary_table(verdict: Verdict) -> str:
    """A plain-text table of the check results, columns aligned with spaces.

    Columns: check (canonical subject), limit, measured, samples, status (``not tested`` for a
    check none of whose operations succeeded, whatever it measured). Example::

        check            limit      measured  samples  status
        ---------------  ---------  --------  -------  -------
        join[fast].p99   < 250 ms   812 ms        143  broken
        lock_reports     == 0       0             312  holding
    """
    header = ("check", "limit", "measured", "samples", "status")
    if not verdict.check_results:
        return "(no checks)"
    not_tested = {entry.check for entry in verdict.not_tested}
    rows = [
        (
            result.subject,
            result.limit_text(),
            result.measured_text(),
            str(result.samples),
            "not tested" if result.check in not_tested else result.status,
        )
        for result in verdict.check_results
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    right_aligned = {3}

    def render(cells: tuple[str, ...]) -> str:
        padded = [
            cell.rjust(widths[column]) if column in right_aligned else cell.ljust(widths[column])
            for column, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    separator = tuple("-" * width for width in widths)
    return "\n".join(render(line) for line in (header, separator, *rows))


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and non-JSON objects as their ``str()``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return str(value)


def _xml_text(text: str) -> str:
    """``text`` without characters XML 1.0 cannot contain."""
    return _XML_FORBIDDEN_CHARACTERS.sub("?", text)


def _junit_timestamp(unix_time: float) -> str:
    """UTC time as ``YYYY-MM-DDTHH:MM:SS``: the JUnit XSD forbids a timezone designator."""
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _utc_text(unix_time: float) -> str:
    """UTC time in ISO 8601 with a ``Z`` suffix."""
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


