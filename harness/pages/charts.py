"""Charts of a run, drawn with matplotlib's Agg backend and embedded as base64 PNG data URIs.

Figures are built with the object-oriented API (:class:`~matplotlib.figure.Figure` on a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`), never ``pyplot``: no global state,
no display, safe to call from any process. The same ``draw_*`` functions draw one run's page
and the side-by-side comparison of a matrix, so both read the same way.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.pages.model import RunView, Series

MEMBER_COLORS = {"fast": "#1f77b4", "slow": "#ff7f0e"}
FAILED_COLOR = "#d62728"
FAULT_COLOR = "#f2c94c"
LOCK_KIND_COLORS = {"wait": "#d62728", "hold": "#9467bd", "order": "#8c564b",
                    "recursive": "#e377c2", "held_across_await": "#17becf"}
OTHER_KIND_COLOR = "#7f7f7f"
JOIN_LIMIT_SUBJECT = "join[fast].p99"
DPI = 110
#: The side-by-side chart grows 4.2 inches per run up to this width (many runs get narrower).
MAX_COMPARISON_WIDTH_IN = 24.0
TIME_LABEL = "seconds since load started"


def figure_data_uri(figure: Figure) -> str:
    """The figure as ``data:image/png;base64,...`` (no metadata naming any web site)."""
    canvas = FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    canvas.print_png(buffer, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def lock_report_bins(series: Series) -> tuple[list[float], dict[str, list[int]]]:
    """Lock reports counted per whole second: the bins' left edges and a count list per kind.

    Bins cover ``series.start_s`` to ``series.end_s``; kinds appear in
    :data:`LOCK_KIND_COLORS` order, then any other kind alphabetically.
    """
    first = math.floor(series.start_s)
    last = max(math.ceil(series.end_s), first + 1)
    edges = [float(second) for second in range(first, last)]
    known = [kind for kind in LOCK_KIND_COLORS if any(k == kind for _, k in series.lock_reports)]
    others = sorted({kind for _, kind in series.lock_reports} - set(LOCK_KIND_COLORS))
    counts = {kind: [0] * len(edges) for kind in (*known, *others)}
    for t_s, kind in series.lock_reports:
        index = min(max(math.floor(t_s) - first, 0), len(edges) - 1)
        counts[kind][index] += 1
    return edges, counts


def max_lock_reports_per_second(series: Series | None) -> int:
    """The highest per-second lock report count of a run (0 without series)."""
    if series is None:
        return 0
    _, counts = lock_report_bins(series)
    totals = [sum(column) for column in zip(*counts.values(), strict=True)]
    return max(totals, default=0)


def max_join_latency_ms(series: Series | None) -> float:
    """The longest join of a run in ms (0 without series)."""
    if series is None:
        return 0.0
    return max((max(point.latency_ms, point.corrected_ms or 0.0) for point in series.joins),
               default=0.0)


def draw_joins(axes: Axes, series: Series | None, *, limit_ms: float | None = None,
               legend: bool = True, counts: bool = True) -> None:
    """Join latency over time: one point per join, fast and slow members apart.

    Failed joins are red crosses; the fault window is shaded and the ``join[fast].p99`` limit,
    when given, is a dashed line. ``counts`` puts the number of joins in the legend labels
    (off where one legend stands for several panels).
    """
    if not _start_panel(axes, series, "join latency (ms)"):
        return
    assert series is not None
    for kind in ("fast", "slow"):
        points = [p for p in series.joins if p.member_kind == kind and p.ok]
        axes.scatter([p.t_s for p in points], [p.latency_ms for p in points], s=14,
                     color=MEMBER_COLORS[kind], alpha=0.8, linewidths=0,
                     label=f"{kind} members" + (f" ({len(points)} joins)" if counts else ""))
        # Where the member was behind its schedule, the corrected latency (what the
        # verdict uses) is longer than the raw one: show it as a hollow marker.
        late = [p for p in points if p.corrected_ms is not None
                and p.corrected_ms > p.latency_ms + 1]
        if late:
            axes.scatter([p.t_s for p in late], [p.corrected_ms or 0.0 for p in late], s=22,
                         facecolors="none", edgecolors=MEMBER_COLORS[kind], linewidths=1,
                         label=f"{kind}, corrected for coordinated omission")
    failed = [p for p in series.joins if not p.ok]
    if failed:
        axes.scatter([p.t_s for p in failed], [p.latency_ms for p in failed], s=30, marker="x",
                     color=FAILED_COLOR,
                     label="failed joins" + (f" ({len(failed)})" if counts else ""))
    if limit_ms is not None:
        axes.axhline(limit_ms, color="#333333", linestyle="--", linewidth=1,
                     label=f"{JOIN_LIMIT_SUBJECT} limit ({limit_ms:g} ms)")
    axes.set_xlim(series.start_s, series.end_s)
    axes.set_ylim(bottom=0)
    if not series.joins:
        _no_data(axes, "no joins recorded")
    if legend:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def draw_lock_reports(axes: Axes, series: Series | None, *, legend: bool = True) -> None:
    """Lock reports per second, stacked by kind (wait, hold, ...), fault shaded."""
    if not _start_panel(axes, series, "lock reports per second", grid_axis="y"):
        return
    assert series is not None
    edges, counts = lock_report_bins(series)
    bottom = [0] * len(edges)
    for kind, column in counts.items():
        axes.bar(edges, column, width=1.0, align="edge", bottom=bottom,
                 color=LOCK_KIND_COLORS.get(kind, OTHER_KIND_COLOR), edgecolor="white",
                 linewidth=0.5, label=f"{kind} ({sum(column)})")
        bottom = [below + count for below, count in zip(bottom, column, strict=True)]
    axes.set_xlim(series.start_s, series.end_s)
    axes.set_ylim(bottom=0, top=max(max(bottom, default=0) * 1.1, 1.0))
    if not series.lock_reports:
        _no_data(axes, "no lock reports")
    if legend:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def max_lock_duration_ms(series: Series | None) -> float:
    """The longest wait, hold or suspension reported in a run, in ms (0 without any)."""
    if series is None:
        return 0.0
    return max((duration for _, _, duration in series.lock_durations), default=0.0)


def draw_lock_durations(axes: Axes, series: Series | None, *, legend: bool = True) -> None:
    """How long each reported wait, hold or held-across-await had lasted, over time (log y).

    Where ``lock reports per second`` shows that something was reported, this shows how bad
    it was: fast joins waiting hundreds of milliseconds behind a broadcast.
    """
    if not _start_panel(axes, series, "reported duration (ms)"):
        return
    assert series is not None
    kinds = [kind for kind in LOCK_KIND_COLORS if any(k == kind for _, k, _ in
                                                        series.lock_durations)]
    kinds += sorted({kind for _, kind, _ in series.lock_durations} - set(LOCK_KIND_COLORS))
    for kind in kinds:
        points = [(t, d) for t, k, d in series.lock_durations if k == kind]
        axes.scatter([t for t, _ in points], [d for _, d in points], s=16, linewidths=0,
                     color=LOCK_KIND_COLORS.get(kind, OTHER_KIND_COLOR), alpha=0.85,
                     label=f"{kind} ({len(points)})")
    axes.set_xlim(series.start_s, series.end_s)
    if series.lock_durations:
        axes.set_yscale("log")
    else:
        _no_data(axes, "no waits, holds or suspensions reported")
    if legend and series.lock_durations:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def run_join_chart(view: RunView) -> str:
    """The run page's join latency chart as a PNG data URI."""
    figure = Figure(figsize=(10, 3.6), dpi=DPI, layout="constrained")
    draw_joins(figure.add_subplot(), view.series, limit_ms=view.check_limit(JOIN_LIMIT_SUBJECT))
    return figure_data_uri(figure)


def run_lock_chart(view: RunView) -> str:
    """The run page's lock reports chart as a PNG data URI."""
    figure = Figure(figsize=(10, 2.8), dpi=DPI, layout="constrained")
    draw_lock_reports(figure.add_subplot(), view.series)
    return figure_data_uri(figure)


def run_lock_duration_chart(view: RunView) -> str:
    """The run page's chart of reported wait, hold and suspension durations."""
    figure = Figure(figsize=(10, 2.8), dpi=DPI, layout="constrained")
    draw_lock_durations(figure.add_subplot(), view.series)
    return figure_data_uri(figure)


def comparison_figure(views: Sequence[RunView]) -> Figure:
    """Runs side by side, one column each: join latency, lock reports, reported durations.

    Every panel of a row shares the same y-limits (and all panels the same time axis), so a
    naive run's stall and a fixed run's flat line are drawn to the same scale.
    """
    columns = max(len(views), 1)
    width = min(4.2 * columns, MAX_COMPARISON_WIDTH_IN)
    figure = Figure(figsize=(width, 9.4), dpi=DPI, layout="constrained")
    grid = figure.subplots(3, columns, squeeze=False, sharex=True, sharey="row")
    join_top = max([max_join_latency_ms(view.series) for view in views]
                   + [view.check_limit(JOIN_LIMIT_SUBJECT) or 0.0 for view in views] + [1.0])
    lock_top = max([max_lock_reports_per_second(view.series) for view in views] + [1])
    starts = [view.series.start_s for view in views if view.series is not None] or [0.0]
    ends = [view.series.end_s for view in views if view.series is not None] or [1.0]
    for column, view in enumerate(views):
        joins, locks, durations = grid[0][column], grid[1][column], grid[2][column]
        draw_joins(joins, view.series, limit_ms=view.check_limit(JOIN_LIMIT_SUBJECT),
                   legend=column == 0, counts=False)
        draw_lock_reports(locks, view.series, legend=False)
        draw_lock_durations(durations, view.series, legend=True)
        joins.set_title(f"{view.mode}: {view.status}", fontweight="bold",
                        color={"PASS": "#1e7b34", "FAIL": "#b42318"}.get(view.status, "#9a6700"))
        if column:
            joins.set_ylabel("")
            locks.set_ylabel("")
            durations.set_ylabel("")
    for row in grid:
        row[0].set_xlim(min(starts), max(ends))
    grid[0][0].set_ylim(0, join_top * 1.08)
    grid[1][0].set_ylim(0, lock_top * 1.1)
    duration_top = max([max_lock_duration_ms(view.series) for view in views] + [0.0])
    if duration_top > 0:
        for axes in grid[2]:  # one log scale for every run, so they compare
            axes.set_yscale("log")
        grid[2][0].set_ylim(0.5, duration_top * 2)
    return figure


def _start_panel(axes: Axes, series: Series | None, ylabel: str,
                 grid_axis: Literal["both", "x", "y"] = "both") -> bool:
    """Label and grid a time panel and shade the fault; False (with a note) without series."""
    axes.set_ylabel(ylabel)
    axes.set_xlabel(TIME_LABEL)
    axes.grid(True, axis=grid_axis, alpha=0.3)
    if series is None:
        _no_data(axes, "no time series in result.json")
        return False
    shade_fault(axes, series)
    return True


def shade_fault(axes: Axes, series: Series) -> None:
    if series.fault_window_s is not None:
        start, end = series.fault_window_s
        axes.axvspan(start, end, color=FAULT_COLOR, alpha=0.3, linewidth=0, label="fault on")


def _no_data(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center",
              color="#666666")


LAG_COLORS = ("#2ca02c", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2", "#8c564b")


def draw_generator_lag(axes: Axes, series: Series, *, limit_ms: float | None = None) -> None:
    """The load generator's own lag: the worst wake-up delay per second, one line per Locust
    process, with the fault window shaded and the ``max_generator_lag`` limit dashed."""
    axes.set_ylabel("generator lag (ms)")
    axes.set_xlabel(TIME_LABEL)
    axes.grid(True, alpha=0.3)
    shade_fault(axes, series)
    processes = sorted({process for _, process, _ in series.generator_lag})
    for index, process in enumerate(processes):
        points = [(t_s, max_ms) for t_s, name, max_ms in series.generator_lag if name == process]
        # Each point is the worst lag of the window that ends there: a step back to the
        # previous window's end, so a 2 s freeze is drawn over the time it lasted.
        axes.plot([t for t, _ in points], [m for _, m in points], drawstyle="steps-pre",
                  linewidth=1.2, color=LAG_COLORS[index % len(LAG_COLORS)],
                  label=f"{process} (worst per second)")
    if limit_ms is not None:
        axes.axhline(limit_ms, color="#333333", linestyle="--", linewidth=1,
                     label=f"max_generator_lag ({limit_ms:g} ms, judged on p99)")
    axes.set_xlim(series.start_s, max(series.end_s, series.start_s + 1))
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def run_lag_chart(view: RunView) -> str:
    """The run page's generator lag chart as a PNG data URI (only drawn when measured)."""
    assert view.series is not None
    figure = Figure(figsize=(10, 2.4), dpi=DPI, layout="constrained")
    limit = (view.generator_lag or {}).get("limit_ms")
    draw_generator_lag(figure.add_subplot(), view.series,
                       limit_ms=float(limit) if isinstance(limit, int | float) else None)
    return figure_data_uri(figure)
