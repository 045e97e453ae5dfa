"""The run page's chart of what the harness sampled: Prometheus metrics, RSS, threads and the
operations in flight.

One panel per sampled series, over time since load started, the fault window shaded, and
the limit of a ``max`` or ``last`` check on that series dashed (``rss.max < 500MB``,
``metric[roomserver_pending_sends].max < 1000``). RSS is drawn in MB, as its checks judge it.
"""

from __future__ import annotations

from harness.measure.inflight import INFLIGHT_OLDEST_SERIES, INFLIGHT_SERIES
from harness.measure.series import RSS_SERIES
from harness.pages.charts import DPI, TIME_LABEL, figure_data_uri, new_figure, shade_fault
from harness.pages.model import RunView

__all__ = ["run_sampled_chart", "sampled_names", "scale_and_label"]

LINE_COLOR = "#1f77b4"
LIMIT_STATISTICS = ("max", "last")
#: How a series is drawn: divided by the scale, under the label (else as it is, by its name).
SCALES_AND_LABELS = {RSS_SERIES: (1e6, "RSS (MB)"),
                     INFLIGHT_SERIES: (1.0, "operations in flight"),
                     INFLIGHT_OLDEST_SERIES: (1.0, "oldest in flight (s)")}


def scale_and_label(name: str) -> tuple[float, str]:
    """What the values of sampled series ``name`` are divided by to draw, and its axis label."""
    return SCALES_AND_LABELS.get(name, (1.0, name))


def sampled_names(view: RunView) -> list[str]:
    """The sampled series with points: metrics first, then the rest by name."""
    if view.series is None:
        return []
    names = [name for name, points in view.series.sampled.items() if points]
    return sorted(names, key=lambda name: (not name.startswith("metric["), name))


def run_sampled_chart(view: RunView) -> str:
    """One panel per sampled series, as a PNG data URI (call only when there is one)."""
    series = view.series
    names = sampled_names(view)
    assert series is not None and names
    figure = new_figure(figsize=(10, 1.2 + 1.9 * len(names)), dpi=DPI, layout="constrained")
    panels = figure.subplots(len(names), 1, sharex=True, squeeze=False)
    for axes, name in zip((row[0] for row in panels), names, strict=True):
        scale, label = scale_and_label(name)
        points = series.sampled[name]
        shade_fault(axes, series)
        axes.plot([t for t, _ in points], [value / scale for _, value in points],
                  color=LINE_COLOR, linewidth=1.4, marker=".", markersize=3, label=label)
        for statistic in LIMIT_STATISTICS:
            limit = view.check_limit(f"{name}.{statistic}")
            if limit is not None:
                axes.axhline(limit, color="#333333", linestyle="--", linewidth=1,
                             label=f"{name}.{statistic} limit ({limit:g})")
        axes.set_ylabel(label if len(label) <= 24 else label[:22] + "…", fontsize="small")
        axes.grid(True, alpha=0.3)
        axes.set_xlim(series.start_s, max(series.chart_end_s, series.start_s + 1))
        axes.legend(loc="upper left", fontsize="small", framealpha=0.9)
    panels[-1][0].set_xlabel(TIME_LABEL)
    return figure_data_uri(figure)
