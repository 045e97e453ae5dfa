"""The HTML page of a sensitivity sweep (``sweep.html``), drawn from ``sweep.json`` alone.

Like ``report.html`` it is one self-contained file: the chart is an embedded PNG drawn with
matplotlib, the style is inline, nothing is loaded from anywhere. Sections: the answer
(floor or ceiling) as a banner; the chart (latency against detection time, and against
join[fast] p99, each run a point coloured by its verdict, the answer a vertical line); one
table row per run with a link to the run's own ``report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.pages.charts import DPI, figure_data_uri, new_figure
from harness.pages.html import badge, esc, number, page, table, write_page
from harness.runfolder.folder import REPORT_FILE_NAME
from harness.sweep.axis import format_ms
from harness.sweep.document import SweepView, load_sweep
from harness.sweep.points import Point

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SWEEP_PAGE_FILE_NAME = "sweep.html"
VERDICT_COLORS = {"PASS": "#1e7b34", "FAIL": "#b42318", "ERROR": "#9a6700"}
ANSWER_CLASSES = {"found": "pass", "none_in_range": "fail"}
ANSWER_COLOR = "#1d2127"
#: Repeats of one point are spread over this fraction of the x range, so none hides another.
REPEAT_SPREAD = 0.012


def write_sweep_page(folder: str | Path) -> Path:
    """Build ``folder/sweep.html`` from ``folder/sweep.json`` and return its path.

    Raises:
        SweepFileError: ``sweep.json`` is missing or malformed.
        PageError: the page cannot be written.
    """
    view = load_sweep(folder)
    return write_page(Path(folder) / SWEEP_PAGE_FILE_NAME, render_sweep_page(view))


def render_sweep_page(view: SweepView) -> str:
    """The complete ``sweep.html``."""
    document = view.document
    answer = view.answer
    scenario_name = str(view.scenario.get("name", "?"))
    mode = str(document.get("mode", "?"))
    find = str(document.get("find", "?"))
    title = f"roomchaos sweep: {scenario_name} [{mode}], {find}"
    css = ANSWER_CLASSES.get(str(answer.get("status")), "error")
    range_ms = document.get("range_ms") or [0, 0]
    repeat = document.get("repeat", "?")
    meta = [f"scenario {scenario_name}", f"mode {mode}",
            f"latency {format_ms(int(range_ms[0]))}..{format_ms(int(range_ms[1]))}",
            f"resolution {format_ms(int(document.get('resolution_ms', 0)))}",
            f"{repeat} run(s) per point", f"{document.get('runs_total', '?')} runs",
            f"{document.get('wall_time_s', '?')} s", f"started {document.get('started_utc', '?')}"]
    sought = (f"the smallest latency at which {mode} FAILs {repeat}/{repeat}" if find == "floor"
              else f"the largest latency at which {mode} PASSes {repeat}/{repeat}")
    body = "\n".join([
        f"<h1>{esc(title)}</h1>",
        f'<div class="banner {css}"><div class="status">{esc(answer.get("status", "?"))}'
        f'</div><div class="message">{esc(answer.get("message", ""))}</div>'
        f'<div class="meta">{esc(" · ".join(meta))}</div></div>',
        f'<p class="note">The sweep sought {esc(sought)}, by bisection between the ends of '
        "the range (every latency fault of the scenario set to the point, jitter 0). It "
        "assumes monotonicity: a mode that FAILs N/N at some latency does so at every higher "
        "one. A point whose runs disagree counts as not N/N; a run that ends in ERROR makes its "
        "point inconclusive and stops the search.</p>",
        "<h2>Latency against detection and join latency</h2>",
        f'<img class="chart" alt="latency against detection time and join p99, by verdict" '
        f'src="{figure_data_uri(sweep_figure(view))}">',
        '<p class="note">One point per run, coloured by its verdict. Top: seconds from fault '
        "start to the early verdict; a hollow point on the dashed line is a run that did not "
        "stop early (not detected before its end). Bottom: join[fast] p99 corrected for "
        "coordinated omission (filled) and raw (hollow), with the scenario's limit. The "
        "vertical line is the answer.</p>",
        "<h2>Points and runs</h2>",
        runs_table(view.points),
    ])
    return page(title, body)


def runs_table(points: Sequence[Point]) -> str:
    """One row per run, in latency order, with a relative link to its ``report.html``."""
    rows = []
    for point in points:
        for run in point.runs:
            locks = ", ".join(f"{count} {kind}" for kind, count in run.lock_reports.items())
            rows.append((
                f"<b>{esc(format_ms(point.latency_ms))}</b>",
                badge(point.outcome) if point.outcome != "MIXED" else esc("MIXED"),
                esc(point.order),
                f'<a href="{esc(run.run)}/{REPORT_FILE_NAME}">{esc(run.run)}</a>',
                badge(run.verdict),
                number(run.detection_s, "s"),
                number(run.join_fast_p99_ms, "ms"),
                number(run.join_fast_p99_corrected_ms, "ms"),
                esc(locks or "0"),
                esc(run.message),
            ))
    return table(("latency", "point", "order", "run", "verdict", "detected after",
                  "join[fast] p99 raw", "join[fast] p99 corrected", "lock reports", "message"),
                 rows, numeric=frozenset({2, 5, 6, 7}))


def sweep_figure(view: SweepView) -> Figure:
    """Two panels sharing the latency axis: detection time on top, join[fast] p99 below."""
    figure = new_figure(figsize=(10, 6.4), dpi=DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    range_ms = view.document.get("range_ms") or [0, 1]
    spread = (float(range_ms[1]) - float(range_ms[0])) * REPEAT_SPREAD
    _draw_detection(top, view, spread)
    _draw_join(bottom, view, spread)
    value = view.answer.get("value_ms")
    if isinstance(value, int | float) and not isinstance(value, bool):
        label = f"{view.document.get('find', 'answer')}: {format_ms(int(value))}"
        for axes in (top, bottom):
            axes.axvline(float(value), color=ANSWER_COLOR, linewidth=1.5, label=label)
    # The top panel's points sit at 0 and on the end-of-run line; the bottom's rise to the
    # right: these corners stay clear.
    for axes, corner in ((top, "center right"), (bottom, "upper left")):
        axes.grid(True, alpha=0.3)
        axes.set_xlim(float(range_ms[0]) - 3 * spread, float(range_ms[1]) + 3 * spread)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc=corner, fontsize="small", framealpha=0.9)
    bottom.set_xlabel("injected latency on the slow members' links (ms)")
    return figure


def _x(point: Point, index: int, spread: float) -> float:
    """The x of the ``index``-th run of a point: its latency, nudged so repeats show apart."""
    count = len(point.runs)
    return point.latency_ms + (index - (count - 1) / 2) * spread


def _draw_detection(axes: Axes, view: SweepView, spread: float) -> None:
    axes.set_ylabel("detected after fault start (s)")
    end = view.run_end_after_fault_s
    seen: set[str] = set()
    for point in view.points:
        for index, run in enumerate(point.runs):
            color = VERDICT_COLORS.get(run.verdict, VERDICT_COLORS["ERROR"])
            label = None if run.verdict in seen else run.verdict
            seen.add(run.verdict)
            if run.detection_s is not None:
                axes.scatter([_x(point, index, spread)], [run.detection_s], s=36, color=color,
                             label=label, zorder=3)
            elif end is not None:
                axes.scatter([_x(point, index, spread)], [end], s=36, facecolors="none",
                             edgecolors=color, linewidths=1.5, label=label, zorder=3)
    if end is not None:
        axes.axhline(end, color="#888888", linestyle="--", linewidth=1,
                     label=f"end of run ({end:g} s after fault start): no early verdict")
        axes.set_ylim(0, end * 1.12)
    else:
        axes.set_ylim(bottom=0)


def _draw_join(axes: Axes, view: SweepView, spread: float) -> None:
    axes.set_ylabel("join[fast] p99 (ms)")
    for point in view.points:
        for index, run in enumerate(point.runs):
            color = VERDICT_COLORS.get(run.verdict, VERDICT_COLORS["ERROR"])
            x = _x(point, index, spread)
            if run.join_fast_p99_corrected_ms is not None:
                axes.scatter([x], [run.join_fast_p99_corrected_ms], s=30, color=color, zorder=3)
            if run.join_fast_p99_ms is not None:
                axes.scatter([x], [run.join_fast_p99_ms], s=30, facecolors="none",
                             edgecolors=color, linewidths=1.2, zorder=3)
    axes.scatter([], [], s=30, color="#666666", label="corrected (filled)")
    axes.scatter([], [], s=30, facecolors="none", edgecolors="#666666", label="raw (hollow)")
    limit = view.scenario.get("join_fast_p99_limit_ms")
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        axes.axhline(float(limit), color="#333333", linestyle=":", linewidth=1,
                     label=f"join[fast].p99 limit ({float(limit):g} ms)")
    axes.set_ylim(bottom=0)
