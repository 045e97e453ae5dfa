"""The matrix page's chart: runs side by side, and the evidence behind every broken check.

One column per run. The first rows are the same for every matrix: join latency, delivery
latency, lock reports per second, reported lock durations. Below them, one row for each
series behind a check that broke in some run (:func:`evidence_rows`): failed operations per
second for ``errors.*``, deliveries lost over time for a ``lost`` check, a sampled series (a
Prometheus metric, RSS, threads) for a check judged on it, and the operations in flight (how
many, and the oldest's age) behind a broken latency or ``errors.*`` check. A broken check with
nothing recorded to draw is said so in a last row. Every row shares its y-limits across runs,
so a mode that broke a check is drawn to the same scale as the modes that held it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from harness.measure.inflight import INFLIGHT_OLDEST_SERIES, INFLIGHT_SERIES
from harness.measure.series import RSS_SERIES
from harness.pages import charts
from harness.pages.model import RunView
from harness.pages.sampled_chart import scale_and_label
from harness.thresholds import CheckResult, lock_reports, parse_check
from harness.thresholds.base import ObservesOperations, SampledMetric
from harness.thresholds.order import LostRatio, OrderCount

__all__ = ["Comparison", "comparison", "evidence_rows"]

#: The chart grows 4.2 inches per run up to this width (many runs get narrower).
MAX_COMPARISON_WIDTH_IN = 24.0
#: Sampled series whose name starts so count the operations in flight: evidence for a
#: broken latency check (a freeze shows as a climbing count).
INFLIGHT_PREFIX = "inflight"
SERIES_ROW = "series:"
FIXED_ROWS = ("join", "deliver", "locks", "durations")
FAILURES_ROW = "failures"
LOST_ROW = "lost"
UNRECORDED_ROW = "unrecorded"
LIMIT_STATISTICS = ("max", "last")
BROKEN_COLOR = "#b42318"
STATUS_COLORS = {"PASS": "#1e7b34", "FAIL": BROKEN_COLOR, "ERROR": "#9a6700"}
#: A note over a panel wraps at this many characters (a column is about 4 inches wide).
TITLE_WIDTH = 58

FIXED_CAPTIONS = {
    "join": "join latency: one point per join (raw latency; a hollow point above it is the "
            "same join corrected for coordinated omission), failed joins as red crosses, joins "
            "still waiting when the run ended as red triangles at the end, as high as they had "
            "waited; the dashed line is join[fast].p99's limit",
    "deliver": "delivery latency: one point per delivery (on long runs the fastest and slowest "
               "of each slice of time), the same marks for failed and unfinished ones; the "
               "dashed line is deliver[fast].p99's limit",
    "locks": "lock reports per second, by kind",
    "durations": "how long each reported wait, hold or suspension under a lock had lasted "
                 "(log scale)",
}


@dataclass(frozen=True)
class Comparison:
    """The drawn chart and, per row top to bottom, what it shows."""

    figure: Figure
    captions: tuple[str, ...]


def evidence_rows(view: RunView, check: CheckResult) -> tuple[str, ...]:
    """The rows that draw what ``check`` judged in ``view``; empty when nothing recorded
    could show it.

    ``join`` and ``deliver`` for a latency check on them, ``failures`` for ``errors.*``, and
    for both the operations in flight (``series:inflight``, ``series:inflight_oldest_s``)
    where recorded; ``locks`` for lock reports, ``lost`` for ``deliver.lost`` and
    ``deliver[KIND].lost``, ``series:NAME`` for a check on a sampled series.
    """
    try:
        metric = parse_check(check.check).metric
    except ValueError:
        return ()
    inner = getattr(metric, "inner", metric)  # a baseline-relative check: what it compares
    if isinstance(inner, SampledMetric):
        return (SERIES_ROW + inner.series_name,)
    if lock_reports.KIND.matches(check.subject):
        return ("locks",)
    if isinstance(inner, LostRatio) or (isinstance(inner, OrderCount)
                                        and inner.statistic == "lost"):
        return (LOST_ROW,)
    if not isinstance(inner, ObservesOperations):
        return ()
    sampled = view.series.sampled if view.series is not None else {}
    inflight = tuple(SERIES_ROW + name for name in sorted(sampled)
                     if name.startswith(INFLIGHT_PREFIX))
    op = getattr(inner, "op", None)
    if op is None:
        return (FAILURES_ROW, *inflight)
    return ((op,) if op in ("join", "deliver") else ()) + inflight


def comparison(views: Sequence[RunView]) -> Comparison:
    """The side-by-side chart of ``views`` (one column each) and its row captions."""
    broken = {id(view): [check for check in view.checks if check.status == "broken"]
              for view in views}
    extra_rows: list[str] = []
    unrecorded = False
    for view in views:
        for check in broken[id(view)]:
            evidence = evidence_rows(view, check)
            unrecorded = unrecorded or not evidence
            extra_rows += [row for row in evidence if row not in FIXED_ROWS]
    rows = [*FIXED_ROWS, *dict.fromkeys(extra_rows)] + ([UNRECORDED_ROW] if unrecorded else [])
    columns = max(len(views), 1)
    width = min(4.2 * columns, MAX_COMPARISON_WIDTH_IN)
    height = 3.0 * len(FIXED_ROWS) + 2.5 * (len(rows) - len(FIXED_ROWS)) + 0.4
    figure = charts.new_figure(figsize=(width, height), dpi=charts.DPI, layout="constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False, sharex=True, sharey="row")
    captions = []
    for row_index, row in enumerate(rows):
        panels = grid[row_index]
        for column, view in enumerate(views):
            axes = panels[column]
            _draw(axes, row, view, broken[id(view)], legend=column == 0)
            if column:
                axes.set_ylabel("")
            notes = broken_here(row, view, broken[id(view)]) if row != UNRECORDED_ROW else []
            if row_index == 0:  # the run's title, then what broke here
                axes.set_title("\n".join([f"{view.mode}: {view.status}", *notes]),
                               fontweight="bold", fontsize="small" if notes else None,
                               color=STATUS_COLORS.get(view.status, STATUS_COLORS["ERROR"]))
            elif notes:
                axes.set_title("\n".join(notes), loc="left", fontsize="small",
                               color=BROKEN_COLOR)
        captions.append(_caption(row, views, broken))
    _share_limits(grid, rows, views)
    return Comparison(figure, tuple(captions))


def _draw(axes: Axes, row: str, view: RunView, broken: list[CheckResult], *,
          legend: bool) -> None:
    series = view.series
    if row == "join":
        charts.draw_joins(axes, series, limit_ms=view.check_limit(charts.JOIN_LIMIT_SUBJECT),
                          legend=legend, counts=False)
    elif row == "deliver":
        charts.draw_deliveries(axes, series, legend=legend, counts=False,
                               limit_ms=view.check_limit(charts.DELIVER_LIMIT_SUBJECT))
    elif row == "locks":
        charts.draw_lock_reports(axes, series, legend=False)
    elif row == "durations":
        charts.draw_lock_durations(axes, series, legend=True)
    elif row == FAILURES_ROW:
        charts.draw_failures(axes, series, legend=True)
    elif row == LOST_ROW:
        charts.draw_lost(axes, series, legend=True)
    elif row == UNRECORDED_ROW:
        _draw_unrecorded(axes, view, broken)
    else:
        _draw_sampled(axes, row.removeprefix(SERIES_ROW), view, legend=legend)


def _draw_sampled(axes: Axes, name: str, view: RunView, *, legend: bool) -> None:
    """One sampled series of one run, its check's limit dashed; or why it has no points."""
    scale, label = scale_and_label(name)
    if not charts.start_panel(axes, view.series, label if len(label) <= 30 else label[:28] + "…"):
        return
    series = view.series
    assert series is not None
    points = series.sampled.get(name, ())
    if points:
        axes.plot([t for t, _ in points], [value / scale for _, value in points],
                  color="#1f77b4", linewidth=1.4, marker=".", markersize=3, label=name)
    else:
        reason = series.sampled_problems.get(name)
        charts.no_data(axes, "no series recorded" + (f":\n{reason[:60]}" if reason else ""))
    for statistic in LIMIT_STATISTICS:
        limit = view.check_limit(f"{name}.{statistic}")
        if limit is not None:
            axes.axhline(limit, color="#333333", linestyle="--", linewidth=1,
                         label=f"{name}.{statistic} limit ({limit:g})")
    axes.set_xlim(series.start_s, max(series.chart_end_s, series.start_s + 1))
    axes.set_ylim(bottom=0)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def _draw_unrecorded(axes: Axes, view: RunView, broken: list[CheckResult]) -> None:
    """The broken checks of this run that no row draws, each said to have no series."""
    axes.set_axis_off()
    lines = [check.describe() for check in broken if not evidence_rows(view, check)]
    text = ("no series recorded for:\n" + "\n".join(lines)) if lines else ""
    axes.text(0.02, 0.9, text, transform=axes.transAxes, ha="left", va="top", wrap=True,
              color=BROKEN_COLOR, fontsize="small")


def broken_here(row: str, view: RunView, broken: list[CheckResult]) -> list[str]:
    """``broken: CHECK = VALUE (limit ...)`` for each check of this run that broke on what
    the row draws, wrapped to fit a column."""
    return [textwrap.fill(f"broken: {check.describe()}", TITLE_WIDTH)
            for check in broken if row in evidence_rows(view, check)]


def _share_limits(grid: Any, rows: list[str],
                  views: Sequence[RunView]) -> None:
    """One time axis for every panel; per row the y-limits of the run that needs most.

    ``grid`` is matplotlib's array of axes, a row per entry of ``rows``."""
    starts = [view.series.start_s for view in views if view.series is not None] or [0.0]
    ends = [view.series.chart_end_s for view in views if view.series is not None] or [1.0]
    for panels, row in zip(grid, rows, strict=True):
        panels[0].set_xlim(min(starts), max(ends))
        if row in ("join", "deliver"):
            subject = (charts.JOIN_LIMIT_SUBJECT if row == "join"
                       else charts.DELIVER_LIMIT_SUBJECT)
            top = max([charts.max_latency_ms(view.series, row) for view in views]
                      + [view.check_limit(subject) or 0.0 for view in views] + [1.0])
            panels[0].set_ylim(0, top * 1.08)
        elif row == "locks":
            top = max([charts.max_lock_reports_per_second(view.series) for view in views] + [1])
            panels[0].set_ylim(0, top * 1.1)
        elif row == "durations":
            duration_top = max([charts.max_lock_duration_ms(view.series) for view in views]
                               + [0.0])
            if duration_top > 0:
                for axes in panels:  # one log scale for every run, so they compare
                    axes.set_yscale("log")
                panels[0].set_ylim(0.5, duration_top * 2)
        elif row == FAILURES_ROW:
            top = max([charts.max_failures_per_second(view.series) for view in views] + [1.0])
            panels[0].set_ylim(0, top * 1.1)
        elif row == LOST_ROW:
            top = max([charts.max_lost(view.series) for view in views] + [1.0])
            panels[0].set_ylim(0, top * 1.1)
        elif row.startswith(SERIES_ROW):
            name = row.removeprefix(SERIES_ROW)
            scale, _ = scale_and_label(name)
            values = [value / scale for view in views if view.series is not None
                      for _, value in view.series.sampled.get(name, ())]
            limits = [limit for view in views for statistic in LIMIT_STATISTICS
                      if (limit := view.check_limit(f"{name}.{statistic}")) is not None]
            panels[0].set_ylim(0, max([*values, *limits, 1.0]) * 1.1)


def _caption(row: str, views: Sequence[RunView], broken: dict[int, list[CheckResult]]) -> str:
    if row in FIXED_CAPTIONS:
        return FIXED_CAPTIONS[row]
    behind = [f"{view.mode}'s {check.check}" for view in views for check in broken[id(view)]
              if row in evidence_rows(view, check)]
    because = f", behind {', '.join(behind)}" if behind else ""
    if row == FAILURES_ROW:
        return f"failed operations per second, by operation{because}"
    if row == LOST_ROW:
        return ("deliveries owed and lost so far, by when the lost message was sent, per "
                f"receiving member kind{because}")
    if row == UNRECORDED_ROW:
        return "broken checks with no series recorded to draw (named in their run's column)"
    name = row.removeprefix(SERIES_ROW)
    if name == INFLIGHT_SERIES:
        return ("operations in flight (joins, broadcasts, leaves, connects and deliveries "
                f"owed, still waiting), as the load generator reported them every 0.25 s{because}")
    if name == INFLIGHT_OLDEST_SERIES:
        return f"how long the oldest operation in flight had waited, in seconds{because}"
    what = "RSS of the target, in MB" if name == RSS_SERIES else name
    return (f"{what}, as the harness sampled it every 0.5 s{because}; the dashed line is the "
            "check's limit")
