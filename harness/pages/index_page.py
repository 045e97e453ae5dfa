"""The HTML index of a matrix folder (``index.html``): its runs side by side.

A table gives each run's verdict (and expectation, when ``matrix.json`` has one), its key
figures and a relative link to its ``report.html``; below it, one chart puts every run in a
column with shared y-limits per row, with a row for the evidence behind every broken check,
and a caption naming each row (see :func:`harness.pages.comparison.comparison`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.pages import charts
from harness.pages.comparison import comparison
from harness.pages.html import badge, esc, number, page, table
from harness.pages.model import RunView
from harness.runfolder.folder import REPORT_FILE_NAME

INDEX_FILE_NAME = "index.html"


def render_index(views: Sequence[RunView], matrix: Mapping[str, Any] | None = None,
                 title: str = "") -> str:
    """The complete ``index.html``.

    Args:
        views: The runs, in column order; each run folder must sit directly inside the
            folder the index is written to (links are ``<run folder name>/report.html``).
        matrix: ``matrix.json`` when there is one: its ``runs[].expected`` and ``all_held``
            are shown.
        title: Heading; the scenario names when empty.
    """
    expected = {str(row.get("mode")): str(row.get("expected"))
                for row in (matrix or {}).get("runs", []) if isinstance(row, Mapping)}
    scenarios = sorted({view.scenario_name for view in views})
    heading = title or f"roomchaos matrix: {', '.join(scenarios)}"
    rows = []
    for view in views:
        expectation = expected.get(view.mode)
        rows.append((
            f"<b>{esc(view.mode)}</b>",
            badge(view.status),
            esc(expectation) if expectation else number(None),
            (badge("holding") if expectation == view.status else badge("broken"))
            if expectation else number(None),
            number(view.latency_stat("join", "fast", "p99_ms"), "ms"),
            number(view.latency_stat("join", "fast", "p99_ms", corrected=True), "ms"),
            esc(len(view.lock_reports)),
            esc(view.message),
            f'<a href="{esc(view.run_dir.name)}/{REPORT_FILE_NAME}">report</a>',
        ))
    summary = ""
    if matrix is not None and isinstance(matrix.get("all_held"), bool):
        held = matrix["all_held"]
        summary = (f'<div class="banner {"pass" if held else "fail"}"><div class="status">'
                   f'{"every expectation holds" if held else "an expectation is BROKEN"}'
                   "</div></div>")
    chart = comparison(views)
    rows_text = "".join(f"<li>{esc(caption)}</li>" for caption in chart.captions)
    body = "\n".join([
        f"<h1>{esc(heading)}</h1>",
        summary,
        table(("mode", "verdict", "expected", "expectation", "join[fast] p99 raw",
               "join[fast] p99 corrected", "lock reports", "message", "details"), rows,
              numeric=frozenset({4, 5, 6})),
        "<h2>Side by side, same axes</h2>",
        f'<img class="chart" alt="joins, deliveries, lock reports and the evidence of every '
        f'broken check, run by run" src="{charts.figure_data_uri(chart.figure)}">',
        f'<p class="note">One column per run; the shaded band is the time the fault was on, '
        f"and each row shares its y-axis across runs. Rows, top to bottom:</p>"
        f'<ol class="note">{rows_text}</ol>',
    ])
    return page(heading, body)
