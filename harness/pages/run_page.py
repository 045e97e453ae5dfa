"""The HTML page of one run (``report.html``), drawn from a :class:`RunView` alone.

Sections, top to bottom: verdict banner; thresholds (limit against measured value, holding,
broken or no data, and ``not tested`` with the cause where none of a check's operations
succeeded); the stalled members, with a stall fault (backpressure, how it cleared);
join latency over time (fast and slow members, fault window shaded, operations still waiting
at the end as triangles at their age); delivery latency over time (the same); failed
operations per second (when any failed); deliveries lost over time, by when the lost
message was sent (when any were lost); lock reports over time;
the load generator's own lag (when measured); what the harness sampled (Prometheus metrics,
the target's RSS and threads, the operations in flight and the oldest's age, when any);
latency percentiles raw and corrected for coordinated omission side by side; the lock
reports grouped by where they happened, each with its stacks in ``<details>``; the scenario
that ran; component versions; links to the run's other files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.measure.measurements import MEMBER_KINDS, OPS
from harness.pages import charts
from harness.pages.html import STATUS_CLASSES, badge, esc, number, page, table
from harness.pages.model import RunView, Series
from harness.pages.sampled_chart import run_sampled_chart, sampled_names
from harness.thresholds import CheckResult
from lockwatch.report import Report

#: Lock reports shown one by one with their stacks; the rest are one line each.
MAX_REPORT_STACKS = 40
STATISTICS = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
VERSION_COMPONENTS = ("target", "toxiproxy", "locust")


def render_run_page(view: RunView) -> str:
    """The complete ``report.html`` of one run."""
    title = f"{view.scenario_name} [{view.mode}]: {view.status}"
    sections = [
        f"<h1>roomchaos run report: {esc(view.scenario_name)} [{esc(view.mode)}]</h1>",
        verdict_banner(view),
        _section("Thresholds", thresholds_table(view)),
        *stall_section(view),
        _section("Join latency over time", _chart(charts.run_join_chart(view), "join latency")
                 + unfinished_note(view, "join")
                 + '<p class="note">One filled point per join (raw latency, as measured by '
                 "each member); a hollow point above it is the same join measured from its "
                 "intended start, where the member was behind schedule (corrected for "
                 "coordinated omission). The shaded band is the time the fault was on. "
                 "Percentiles of both are in the latency table below. Red crosses are joins "
                 "that failed; red triangles at the end are joins still waiting when the run "
                 "ended, drawn as high as they had waited, with a dotted ramp from when each "
                 "began.</p>"),
        _section("Delivery latency over time",
                 _chart(charts.run_delivery_chart(view), "delivery latency")
                 + unfinished_note(view, "deliver") + delivery_note(view)),
        *failures_section(view),
        *lost_section(view),
        _section("Lock reports over time",
                 _chart(charts.run_lock_chart(view), "lock reports per second")
                 + _chart(charts.run_lock_duration_chart(view), "reported lock durations")
                 + '<p class="note">Below: how long each reported wait, hold or suspension '
                 "under a lock had lasted when it was reported (log scale).</p>"),
        *generator_lag_section(view),
        *sampled_section(view),
        _section("Latency: raw and corrected for coordinated omission", latency_table(view)),
        _section(f"Lock reports ({len(view.lock_reports)})", lock_reports_section(view)),
        _section("Scenario", scenario_section(view.scenario)),
        _section("Versions", versions_table(view.versions)),
        _section("Files of this run", files_section(view)),
    ]
    return page(title, "\n".join(sections))


def verdict_banner(view: RunView) -> str:
    """The coloured verdict, its message, and which run this is."""
    css = STATUS_CLASSES.get(view.status, "error")
    meta = [f"scenario {view.scenario_name}", f"mode {view.mode}", f"run {view.run_id}"]
    if view.started_utc:
        meta.append(f"started {view.started_utc.replace('T', ' ')[:19]} UTC")
    meta.append(f"{view.duration_s:.1f} s of load")
    if view.schedule is not None:  # the steps the run carried out (harness.schedule)
        meta.append(", ".join(f"{phase} {start:.1f}–{end:.1f} s"
                              for phase, start, end in view.schedule.phases()))
    lag_p99 = _figure((view.generator_lag or {}).get("p99_ms"))
    if lag_p99 is not None:
        meta.append(f"generator lag p99 {lag_p99:.0f} ms")
    errors = "".join(f"<li>{esc(error)}</li>" for error in view.component_errors)
    return (
        f'<div class="banner {css}"><div class="status">{esc(view.status)}</div>'
        f'<div class="message">{esc(view.message)}</div>'
        f'<div class="meta">{esc(" · ".join(meta))}</div>'
        + (f"<ul>{errors}</ul>" if errors else "") + "</div>"
    )


def unfinished_note(view: RunView, op: str) -> str:
    """``7 joins never finished; the oldest waited 6.9 s.``, or nothing when none."""
    unfinished = view.series.unfinished_of(op) if view.series is not None else ()
    if not unfinished:
        return ""
    noun, plural = charts.OP_NOUNS[op]
    oldest_s = max(point.age_ms for point in unfinished) / 1000
    count = len(unfinished)
    return (f'<p class="unfinished"><b>{count} {noun if count == 1 else plural} never '
            f"finished; the oldest waited {oldest_s:.1f} s.</b></p>")


def delivery_note(view: RunView) -> str:
    """What the delivery chart shows, and how many deliveries it thinned."""
    series = view.series
    thinned = ""
    if series is not None and series.deliver_count > len(series.deliveries):
        thinned = (f" Of the run's {series.deliver_count} deliveries, the chart shows "
                   f"{len(series.deliveries)}: every failed one and, in each slice of time, "
                   "the fastest and the slowest.")
    return ('<p class="note">One point per delivery: from the broadcast\'s send to its receipt '
            "by this member. Red triangles at the end are deliveries still owed when the run "
            f"ended, drawn at their age.{esc(thinned)}</p>")


def failures_section(view: RunView) -> list[str]:
    """Failed operations per second, by operation; nothing when none failed."""
    return _series_section(
        view, lambda series: series.failed_per_second, "Failed operations over time",
        charts.run_failures_chart, "failed operations per second",
        "Operations that ended in an error, per second and operation (their errors are in "
        "samples.jsonl). Operations still waiting at the end are on the latency charts instead.")


def generator_lag_section(view: RunView) -> list[str]:
    """The load generator's own lag: chart and per-process figures; nothing when unmeasured."""
    lag = view.generator_lag
    if lag is None:
        return []
    chart = ""
    if view.series is not None and view.series.generator_lag:
        chart = _chart(charts.run_lag_chart(view), "load generator lag")
    processes = lag.get("processes")
    rows = [
        (esc(name), number(_figure(figures.get("p50_ms")), "ms"),
         number(_figure(figures.get("p99_ms")), "ms"), number(_figure(figures.get("max_ms")), "ms"),
         "yes" if figures.get("cpu_warning") else "no")
        for name, figures in (processes.items() if isinstance(processes, Mapping) else ())
        if isinstance(figures, Mapping)
    ]
    figures_table = table(("Locust process", "lag p50", "lag p99", "lag max",
                           "Locust CPU warning"), rows, numeric=frozenset({1, 2, 3}))
    limit = lag.get("limit_ms")
    verdict_note = (
        "Over the limit, so a broken check was not blamed on the target (ERROR)."
        if lag.get("over_limit") else "Within the limit: the generator kept time."
    )
    note = (f'<p class="note">How late a 10 ms sleep woke up in each Locust process, a stall '
            f"counted as every tick it swallowed. The verdict compares the worst process's p99 "
            f"({number(_figure(lag.get('p99_ms')), 'ms')}) with max_generator_lag "
            f"({number(_figure(limit), 'ms')}). {esc(verdict_note)}</p>")
    return [_section("Load generator lag", chart + figures_table + note)]


def stall_section(view: RunView) -> list[str]:
    """The stall check: when each member's stall reached backpressure, how it cleared."""
    stall = view.stall
    if stall is None:
        return []

    def seconds(value: Any) -> str:
        figure = _figure(value)
        return "n/a" if figure is None else f"{figure:.1f} s"

    def size(value: Any) -> str:
        figure = _figure(value)
        return "n/a" if figure is None else f"{figure / 1024:.0f} KB"

    rows = []
    for member in stall.get("members") or []:
        how = str(member.get("cleared") or "not seen")
        if member.get("close_code"):
            how += f" ({member['close_code']}: {member.get('close_reason', '')})"
        rows.append([esc(str(member.get("member"))),
                     seconds(member.get("backpressure_after_stall_s")),
                     size(member.get("backpressure_bytes")),
                     size(member.get("peer_buffer_bytes")), esc(how),
                     number(_figure(member.get("deliveries_after_resume")) or 0)])
    cleared = stall.get("cleared")
    verdict = ("not judged: the run ended before the lift" if cleared is None
               else badge("PASS" if cleared else "FAIL"))
    note = (f'<p>Causal check (the stall clears once lifted): {verdict}</p>'
            + "".join(f'<p class="note">{esc(line)}</p>'
                      for line in str(stall.get("summary", "")).splitlines())
            + "".join(f'<p class="note">{esc(str(error))}</p>'
                      for error in stall.get("errors") or []))
    header = ["member", "backpressure after", "receive queue", "server's send buffer",
              "cleared", "deliveries after resuming"]
    return [_section("Stalled members", table(header, rows, frozenset({1, 2, 3, 5})) + note)]


def lost_section(view: RunView) -> list[str]:
    """Deliveries owed and lost over time; nothing when none was lost (or not recorded)."""
    return _series_section(
        view, lambda series: series.lost, "Deliveries lost over time", charts.run_lost_chart,
        "deliveries lost",
        "How many deliveries owed to members were lost so far, placed at when the lost message "
        "was sent (a member owed a message that had not received it a grace period after the "
        "send, or by the run's end; the rules are in scenarios/README.md).")


def _series_section(view: RunView, drawn: Callable[[Series], object], title: str,
                    chart: Callable[[RunView], str], alt: str, note: str) -> list[str]:
    """``title`` over the ``chart`` of what the run's series ``drawn`` returns, and ``note``
    (HTML); nothing when the run has no series or that part of them is empty."""
    if view.series is None or not drawn(view.series):
        return []
    return [_section(title, _chart(chart(view), alt) + f'<p class="note">{note}</p>')]


def sampled_section(view: RunView) -> list[str]:
    """The sampled series over time, and why any of them has no data; nothing when the run
    sampled nothing."""
    series = view.series
    if series is None or not (series.sampled or series.sampled_problems):
        return []
    chart = _chart(run_sampled_chart(view), "sampled series") if sampled_names(view) else ""
    problems = "".join(f"<li><code>{esc(name)}</code>: {esc(reason)}</li>"
                       for name, reason in series.sampled_problems.items())
    note = ('<p class="note">Sampled every 0.5 s from load start to load stop (points also '
            "in series.jsonl); the operations in flight, over every Locust process, as the "
            "load generator reported them every 0.25 s (inflight.jsonl). The shaded band is "
            "the time the fault was on.</p>")
    if problems:
        note += f'<p class="note">Without data, or not every time:</p><ul>{problems}</ul>'
    return [_section("Sampled during the run", chart + note)]


def thresholds_table(view: RunView) -> str:
    """One row per check: declared limit, measured value, samples, holding/broken/no data."""
    if not view.checks:
        return '<p class="note">The scenario declares no checks.</p>'
    rows = [
        (
            f"<code>{esc(check.subject)}</code>",
            esc(check.limit_text()),
            number(check.measured, check.unit),
            esc(check.samples),
            _status_cell(view, check),
        )
        for check in view.checks
    ]
    return table(("check", "limit", "measured", "samples", "status"), rows,
                 numeric=frozenset({2, 3}))


def _status_cell(view: RunView, check: CheckResult) -> str:
    """The check's badge and reason; ``not tested`` and why, for a check none of whose
    operations succeeded."""
    cell = badge(check.status) + (f' <span class="note">{esc(check.reason)}</span>'
                                  if check.reason else "")
    cause = view.not_tested.get(check.check)
    if cause is not None:
        cell += f' {badge("ERROR").replace(">ERROR<", ">not tested<")} ' \
                f'<span class="note">{esc(cause)}</span>'
    return cell


def latency_table(view: RunView) -> str:
    """Per operation and member kind: raw percentiles next to the corrected ones (or n/a)."""
    rows = []
    for op in OPS:
        for member_kind in MEMBER_KINDS:
            raw = view.latency.get(op, {}).get(member_kind)
            corrected = (view.latency_corrected or {}).get(op, {}).get(member_kind)
            if raw is None and corrected is None:
                continue
            cells = [f"<code>{esc(op)}[{esc(member_kind)}]</code>",
                     esc(raw.get("samples", "")) if raw else number(None)]
            for corrected_side in (False, True):
                cells += [number(view.latency_stat(op, member_kind, stat, corrected_side))
                          for stat in STATISTICS]
            rows.append(cells)
    if not rows:
        return '<p class="note">No latency was measured.</p>'
    names = [stat.removesuffix("_ms") for stat in STATISTICS]
    header = ["operation", "samples", *(f"raw {name} (ms)" for name in names),
              *(f"corrected {name} (ms)" for name in names)]
    note = (
        '<p class="note">Corrected figures count each join from when it was meant to start '
        "(the member's fixed schedule), so time spent stalled before sending counts too.</p>"
        if view.latency_corrected is not None else
        '<p class="note">This result.json has no coordinated-omission corrected figures '
        "(n/a).</p>"
    )
    return table(header, rows, numeric=frozenset(range(1, len(header)))) + note


def lock_reports_section(view: RunView) -> str:
    """Reports grouped by kind, lock and code sites, then every report with its stacks."""
    if not view.lock_reports:
        return '<p class="note">No lock reports: no lock was waited for or held too long.</p>'
    groups: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = {}
    for report in view.lock_reports:
        groups.setdefault(_group_key(report), []).append(report)
    rows = []
    for (kind, lock, site, holders), reports in sorted(groups.items(),
                                                       key=lambda item: -len(item[1])):
        longest = max(reports, key=_duration)
        rows.append((
            esc(kind), f"<code>{esc(lock)}</code>", f"<code>{esc(site)}</code>",
            f"<code>{esc(holders)}</code>" if holders else number(None),
            esc(len(reports)), number(_duration(longest) * 1000, "ms"),
            f"<details><summary>longest</summary><pre>{esc(_render(longest))}</pre></details>",
        ))
    grouped = table(("kind", "lock", "reported at", "held by", "reports", "longest", "stacks"),
                    rows, numeric=frozenset({4, 5}))
    items = []
    for index, report in enumerate(view.lock_reports):
        line = esc(_one_line(report, view.run_started))
        if index < MAX_REPORT_STACKS:
            items.append(f"<details><summary>{line}</summary>"
                         f"<pre>{esc(_render(report))}</pre></details>")
        else:
            items.append(f"<div>{line}</div>")
    rest = len(view.lock_reports) - MAX_REPORT_STACKS
    more = (f'<p class="note">Stacks of the other {rest} reports are in result.json.</p>'
            if rest > 0 else "")
    return (grouped + f"<details><summary>Every report, in order "
            f"({len(view.lock_reports)})</summary>{''.join(items)}{more}</details>")


def scenario_section(scenario: Mapping[str, Any]) -> str:
    """The scenario's description and every setting as ``dotted.key = value`` rows."""
    rows = [(f"<code>{esc(key)}</code>", f"<code>{esc(value)}</code>")
            for key, value in _flatten(scenario) if key not in ("name", "description")]
    description = scenario.get("description")
    intro = f"<p>{esc(description)}</p>" if description else ""
    return intro + table(("setting", "value"), rows)


def versions_table(versions: Mapping[str, str]) -> str:
    """Target, Toxiproxy and Locust versions (``not recorded`` when missing), then others."""
    names = [*VERSION_COMPONENTS, *sorted(set(versions) - set(VERSION_COMPONENTS))]
    rows = [(esc(name), esc(versions[name]) if name in versions else number(None))
            for name in names]
    return table(("component", "version"), rows)


def files_section(view: RunView) -> str:
    """Relative links to the run's other files that exist next to the report."""
    present = view.folder.linked_files()
    if not present:
        return '<p class="note">No other files next to this report.</p>'
    return "<ul>" + "".join(f'<li><a href="{esc(name)}">{esc(name)}</a></li>'
                            for name in present) + "</ul>"


def _figure(value: Any) -> float | None:
    """A number from result.json, or None for anything else (missing, null, text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _section(title: str, body: str) -> str:
    return f"<section><h2>{esc(title)}</h2>\n{body}\n</section>"


def _chart(data_uri: str, alt: str) -> str:
    return f'<img class="chart" alt="{esc(alt)}" src="{data_uri}">'


def _duration(report: Mapping[str, Any]) -> float:
    value = report.get("duration_s")
    return float(value) if isinstance(value, int | float) else 0.0


def _site(party: Any) -> str:
    return str(party.get("acquire_site", "")) if isinstance(party, Mapping) else ""


def _group_key(report: Mapping[str, Any]) -> tuple[str, str, str, str]:
    holders = report.get("holders")
    holder_sites = sorted({_site(holder) for holder in holders}) if isinstance(holders,
                                                                              list) else []
    return (str(report.get("kind", "?")), str(report.get("lock", "?")),
            _site(report.get("subject")), ", ".join(site for site in holder_sites if site))


def _one_line(report: Mapping[str, Any], run_started: float) -> str:
    kind, lock, site, holders = _group_key(report)
    when = report.get("time")
    parts = []
    if isinstance(when, int | float) and run_started:
        parts.append(f"+{when - run_started:.2f} s")
    parts += [kind, lock]
    if _duration(report):
        parts.append(f"{_duration(report) * 1000:.0f} ms")
    if site:
        parts.append(f"at {site}")
    if holders:
        parts.append(f"held by {holders}")
    return " · ".join(parts)


def _render(report: Mapping[str, Any]) -> str:
    """go-deadlock-style text of a lockwatch report; pretty JSON for anything else."""
    try:
        return Report.from_dict(dict(report)).render()
    except (ValueError, TypeError, KeyError, AttributeError):
        return json.dumps(report, indent=2, default=str)


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value if isinstance(value, str) else json.dumps(value)
