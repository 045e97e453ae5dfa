"""Charts of a run, drawn with matplotlib's Agg backend and embedded as base64 PNG data URIs.

Figures are built with the object-oriented API (:class:`~matplotlib.figure.Figure` on a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`), never ``pyplot``: no global state,
no display, safe to call from any process. The same ``draw_*`` functions draw one run's page
and the side-by-side comparison of a matrix (:mod:`harness.pages.comparison`), so both read
the same way.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from harness.pages.model import RunView, Series

MEMBER_COLORS = {"fast": "#1f77b4", "slow": "#ff7f0e"}
FAILED_COLOR = "#d62728"
FAULT_COLOR = "#f2c94c"
LOCK_KIND_COLORS = {"wait": "#d62728", "hold": "#9467bd", "order": "#8c564b",
                    "recursive": "#e377c2", "held_across_await": "#17becf"}
OTHER_KIND_COLOR = "#7f7f7f"
JOIN_LIMIT_SUBJECT = "join[fast].p99"
DELIVER_LIMIT_SUBJECT = "deliver[fast].p99"
FAILURE_COLORS = ("#d62728", "#ff9896", "#8c564b", "#e377c2", "#7f7f7f")
DPI = 110
TIME_LABEL = "seconds since load started"


def new_figure(**options: Any) -> Figure:
    """A matplotlib :class:`~matplotlib.figure.Figure` (``figsize``, ``dpi``, ``layout``, ...).

    matplotlib is imported here, when a chart is drawn, not when the harness starts: it takes
    about a second to import, and most commands (a bad flag, a run's first seconds) draw nothing.
    """
    from matplotlib.figure import Figure

    return Figure(**options)


def figure_data_uri(figure: Figure) -> str:
    """The figure as ``data:image/png;base64,...`` (no metadata naming any web site)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

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
    """The longest join of a run in ms, unfinished ones at their age (0 without series)."""
    return max_latency_ms(series, "join")


def max_latency_ms(series: Series | None, op: str) -> float:
    """The longest ``join`` or ``deliver`` of a run in ms, corrected figures and unfinished
    operations' ages included (0 without series)."""
    if series is None:
        return 0.0
    return max([max(point.latency_ms, point.corrected_ms or 0.0) for point in series.points(op)]
               + [point.age_ms for point in series.unfinished_of(op)], default=0.0)


OP_NOUNS = {"join": ("join", "joins"), "deliver": ("delivery", "deliveries")}


def draw_joins(axes: Axes, series: Series | None, *, limit_ms: float | None = None,
               legend: bool = True, counts: bool = True) -> None:
    """Join latency over time: see :func:`draw_operation`."""
    draw_operation(axes, series, "join", limit_ms=limit_ms, limit_subject=JOIN_LIMIT_SUBJECT,
                   legend=legend, counts=counts)


def draw_deliveries(axes: Axes, series: Series | None, *, limit_ms: float | None = None,
                    legend: bool = True, counts: bool = True) -> None:
    """Delivery latency over time: see :func:`draw_operation`."""
    draw_operation(axes, series, "deliver", limit_ms=limit_ms,
                   limit_subject=DELIVER_LIMIT_SUBJECT, legend=legend, counts=counts)


def draw_operation(axes: Axes, series: Series | None, op: str, *, limit_ms: float | None,
                   limit_subject: str, legend: bool = True, counts: bool = True) -> None:
    """Latency of ``op`` (``join`` or ``deliver``) over time: one point per operation, fast
    and slow members apart.

    Failed operations are red crosses; operations still waiting when the run ended are red
    triangles at the end of the run, as high as they had waited, each with a dotted ramp from
    when it started (a freeze shows as tall triangles, not as a gap in the dots). The fault
    window is shaded and the limit, when given, is a dashed line. ``counts`` puts the numbers
    in the legend labels (off where one legend stands for several panels).
    """
    noun, plural = OP_NOUNS[op]
    if not start_panel(axes, series, f"{noun} latency (ms)"):
        return
    assert series is not None
    recorded = series.points(op)
    for kind in ("fast", "slow"):
        points = [p for p in recorded if p.member_kind == kind and p.ok]
        axes.scatter([p.t_s for p in points], [p.latency_ms for p in points], s=14,
                     color=MEMBER_COLORS[kind], alpha=0.8, linewidths=0,
                     label=f"{kind} members" + (f" ({len(points)} {plural})" if counts else ""))
        # Where the member was behind its schedule, the corrected latency (what the
        # verdict uses) is longer than the raw one: show it as a hollow marker.
        late = [p for p in points if p.corrected_ms is not None
                and p.corrected_ms > p.latency_ms + 1]
        if late:
            axes.scatter([p.t_s for p in late], [p.corrected_ms or 0.0 for p in late], s=22,
                         facecolors="none", edgecolors=MEMBER_COLORS[kind], linewidths=1,
                         label=f"{kind}, corrected for coordinated omission")
    failed = [p for p in recorded if not p.ok]
    if failed:
        axes.scatter([p.t_s for p in failed], [p.latency_ms for p in failed], s=30, marker="x",
                     color=FAILED_COLOR,
                     label=f"failed {plural}" + (f" ({len(failed)})" if counts else ""))
    unfinished = series.unfinished_of(op)
    for point in unfinished:
        # Its age grew from 0 when it was started to the triangle's height at the end.
        axes.plot([point.t_s - point.age_ms / 1000, point.t_s], [0.0, point.age_ms],
                  color=FAILED_COLOR, alpha=0.35, linewidth=0.8, linestyle=":")
    if unfinished:
        axes.scatter([p.t_s for p in unfinished], [p.age_ms for p in unfinished], s=48,
                     marker="^", color=FAILED_COLOR, edgecolors="#1d2127", linewidths=0.6,
                     zorder=4, clip_on=False,
                     label=f"unfinished at the end ({len(unfinished)}), at their age")
    if limit_ms is not None:
        axes.axhline(limit_ms, color="#333333", linestyle="--", linewidth=1,
                     label=f"{limit_subject} limit ({limit_ms:g} ms)")
    axes.set_xlim(series.start_s, series.chart_end_s)
    axes.set_ylim(bottom=0)
    if not recorded and not unfinished:
        no_data(axes, f"no {plural} recorded")
    if legend:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def draw_failures(axes: Axes, series: Series | None, *, legend: bool = True) -> None:
    """Failed operations per second, stacked by operation, fault shaded; operations still
    waiting at the end are not here (they are triangles on the latency charts)."""
    if not start_panel(axes, series, "failed operations per second", grid_axis="y"):
        return
    assert series is not None
    ops = sorted({op for _, op, _ in series.failed_per_second})
    stacks = []
    for index, op in enumerate(ops):
        bars = [(second, count) for second, name, count in series.failed_per_second
                if name == op]
        stacks.append((f"{op} ({sum(count for _, count in bars):g})",
                       FAILURE_COLORS[index % len(FAILURE_COLORS)], bars))
    stack_bars(axes, series, stacks)
    if not ops:
        no_data(axes, "no failed operations")
    elif legend:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def stack_bars(axes: Axes, series: Series,
               stacks: Sequence[tuple[str, str, Sequence[tuple[float, float]]]]) -> None:
    """Bars a second wide, one ``(label, color, [(second, count), ...])`` on top of those
    before it; x over the run, y from 0 to a tenth above the highest pile (at least 1)."""
    bottom: dict[float, float] = {}
    for label, color, bars in stacks:
        axes.bar([second for second, _ in bars], [count for _, count in bars], width=1.0,
                 align="edge", bottom=[bottom.get(second, 0.0) for second, _ in bars],
                 color=color, edgecolor="white", linewidth=0.5, label=label)
        for second, count in bars:
            bottom[second] = bottom.get(second, 0.0) + count
    axes.set_xlim(series.start_s, series.chart_end_s)
    axes.set_ylim(bottom=0, top=max(max(bottom.values(), default=0.0) * 1.1, 1.0))


def max_failures_per_second(series: Series | None) -> float:
    """The most operations that failed in one second of a run (0 without series)."""
    if series is None:
        return 0.0
    totals: dict[float, float] = {}
    for second, _, count in series.failed_per_second:
        totals[second] = totals.get(second, 0.0) + count
    return max(totals.values(), default=0.0)


def cumulative_lost(series: Series, member_kind: str) -> list[tuple[float, float]]:
    """``(t_s, lost so far)`` of deliveries owed to ``member_kind`` members, by send time."""
    total = 0.0
    points = []
    for t_s, kind, count in sorted(series.lost or ()):
        if kind == member_kind:
            total += count
            points.append((t_s, total))
    return points


def max_lost(series: Series | None) -> float:
    """The most deliveries one member kind lost in a run (0 without any)."""
    if series is None or not series.lost:
        return 0.0
    return max(cumulative_lost(series, kind)[-1][1] for kind in {k for _, k, _ in series.lost})


def draw_lost(axes: Axes, series: Series | None, *, legend: bool = True) -> None:
    """Deliveries owed and lost so far, by when the lost message was sent, one step line per
    receiving member kind, fault shaded; "no series recorded" for a run (or an older result
    file) that did not record them."""
    if not start_panel(axes, series, "deliveries lost (cumulative)", grid_axis="both"):
        return
    assert series is not None
    axes.set_xlim(series.start_s, series.chart_end_s)
    axes.set_ylim(0, max(max_lost(series) * 1.1, 1.0))
    if series.lost is None:
        no_data(axes, "no series recorded")
        return
    kinds = [kind for kind in MEMBER_COLORS if any(k == kind for _, k, _ in series.lost)]
    kinds += sorted({kind for _, kind, _ in series.lost} - set(MEMBER_COLORS))
    for kind in kinds:
        points = cumulative_lost(series, kind)
        # From 0 at the start, a step up at each lost message's send time, flat to the end.
        xs = [series.start_s, *(t for t, _ in points), series.end_s]
        ys = [0.0, *(total for _, total in points), points[-1][1]]
        axes.step(xs, ys, where="post", color=MEMBER_COLORS.get(kind, OTHER_KIND_COLOR),
                  linewidth=1.6, label=f"owed to {kind} members, lost ({points[-1][1]:g})")
    if not kinds:
        no_data(axes, "no deliveries lost")
    elif legend:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def draw_lock_reports(axes: Axes, series: Series | None, *, legend: bool = True) -> None:
    """Lock reports per second, stacked by kind (wait, hold, ...), fault shaded."""
    if not start_panel(axes, series, "lock reports per second", grid_axis="y"):
        return
    assert series is not None
    edges, counts = lock_report_bins(series)
    stack_bars(axes, series, [
        (f"{kind} ({sum(column)})", LOCK_KIND_COLORS.get(kind, OTHER_KIND_COLOR),
         list(zip(edges, column, strict=True)))
        for kind, column in counts.items()])
    if not series.lock_reports:
        no_data(axes, "no lock reports")
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
    if not start_panel(axes, series, "reported duration (ms)"):
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
    axes.set_xlim(series.start_s, series.chart_end_s)
    if series.lock_durations:
        axes.set_yscale("log")
    else:
        no_data(axes, "no waits, holds or suspensions reported")
    if legend and series.lock_durations:
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def _panel_chart(height_in: float, draw: Callable[[Axes], None]) -> str:
    """One full-width panel ``height_in`` inches high, drawn by ``draw``, as a PNG data URI."""
    figure = new_figure(figsize=(10, height_in), dpi=DPI, layout="constrained")
    draw(figure.add_subplot())
    return figure_data_uri(figure)


def run_join_chart(view: RunView) -> str:
    """The run page's join latency chart as a PNG data URI."""
    return _panel_chart(3.6, lambda axes: draw_joins(
        axes, view.series, limit_ms=view.check_limit(JOIN_LIMIT_SUBJECT)))


def run_delivery_chart(view: RunView) -> str:
    """The run page's delivery latency chart as a PNG data URI."""
    return _panel_chart(3.6, lambda axes: draw_deliveries(
        axes, view.series, limit_ms=view.check_limit(DELIVER_LIMIT_SUBJECT)))


def run_failures_chart(view: RunView) -> str:
    """The run page's failed operations per second as a PNG data URI."""
    return _panel_chart(2.4, lambda axes: draw_failures(axes, view.series))


def run_lost_chart(view: RunView) -> str:
    """The run page's deliveries lost over time as a PNG data URI."""
    return _panel_chart(2.6, lambda axes: draw_lost(axes, view.series))


def run_lock_chart(view: RunView) -> str:
    """The run page's lock reports chart as a PNG data URI."""
    return _panel_chart(2.8, lambda axes: draw_lock_reports(axes, view.series))


def run_lock_duration_chart(view: RunView) -> str:
    """The run page's chart of reported wait, hold and suspension durations."""
    return _panel_chart(2.8, lambda axes: draw_lock_durations(axes, view.series))


def start_panel(axes: Axes, series: Series | None, ylabel: str,
                 grid_axis: Literal["both", "x", "y"] = "both") -> bool:
    """Label and grid a time panel and shade the fault; False (with a note) without series."""
    axes.set_ylabel(ylabel)
    axes.set_xlabel(TIME_LABEL)
    axes.grid(True, axis=grid_axis, alpha=0.3)
    if series is None:
        no_data(axes, "no time series in result.json")
        return False
    shade_fault(axes, series)
    return True


def shade_fault(axes: Axes, series: Series) -> None:
    if series.fault_window_s is not None:
        start, end = series.fault_window_s
        axes.axvspan(start, end, color=FAULT_COLOR, alpha=0.3, linewidth=0, label="fault on")


def no_data(axes: Axes, text: str) -> None:
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
    axes.set_xlim(series.start_s, max(series.chart_end_s, series.start_s + 1))
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize="small", framealpha=0.9)


def run_lag_chart(view: RunView) -> str:
    """The run page's generator lag chart as a PNG data URI (only drawn when measured)."""
    assert view.series is not None
    figure = new_figure(figsize=(10, 2.4), dpi=DPI, layout="constrained")
    limit = (view.generator_lag or {}).get("limit_ms")
    draw_generator_lag(figure.add_subplot(), view.series,
                       limit_ms=float(limit) if isinstance(limit, int | float) else None)
    return figure_data_uri(figure)
