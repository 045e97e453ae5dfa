"""Small HTML building blocks shared by the run page and the matrix index.

Every piece of text that comes from a result goes through :func:`esc`. Pages carry their
style inline and load nothing: no script, no font, no image from anywhere else.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.pages.model import PageError
from harness.runfolder.atomic import write_text_atomically
from harness.thresholds.base import format_number

STATUS_CLASSES = {"PASS": "pass", "FAIL": "fail", "ERROR": "error"}
CHECK_STATUS_TEXT = {"holding": "holding", "broken": "broken", "no_data": "no data"}

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 0 20px 40px; color: #1d2127;
       background: #fff; line-height: 1.45; }
h1 { font-size: 1.35rem; margin: 18px 0 6px; }
h2 { font-size: 1.1rem; margin: 28px 0 8px; border-bottom: 1px solid #d8dde3;
     padding-bottom: 4px; }
.banner { border-radius: 8px; padding: 14px 18px; margin: 14px 0; color: #fff; }
.banner .status { font-size: 1.9rem; font-weight: 700; letter-spacing: 0.04em; }
.banner .message { font-size: 1.02rem; margin-top: 4px; }
.banner .meta { font-size: 0.85rem; opacity: 0.9; margin-top: 6px; }
.banner.pass { background: #1e7b34; } .banner.fail { background: #b42318; }
.banner.error { background: #9a6700; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.92rem; }
th, td { border: 1px solid #d8dde3; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; border-radius: 4px; padding: 0 7px; font-weight: 600;
         font-size: 0.85rem; color: #fff; }
.badge.pass, .badge.holding { background: #1e7b34; }
.badge.fail, .badge.broken { background: #b42318; }
.badge.error, .badge.no_data { background: #9a6700; }
.na { color: #8a939e; }
img.chart { width: 100%; height: auto; border: 1px solid #e3e7eb; border-radius: 4px; }
.note { color: #57606a; font-size: 0.88rem; margin: 4px 0; }
details { margin: 3px 0; } summary { cursor: pointer; }
pre { background: #f6f8fa; border: 1px solid #e3e7eb; border-radius: 4px; padding: 8px;
      overflow-x: auto; font-size: 0.8rem; line-height: 1.35; }
code { font-size: 0.88em; }
"""


def esc(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def number(value: float | None, unit: str = "") -> str:
    """A measured figure for a table cell: ``"970.93 ms"``, or a grey ``n/a``."""
    if value is None:
        return '<span class="na">n/a</span>'
    return esc(f"{format_number(value)} {unit}".strip())


def badge(status: str) -> str:
    """A coloured label for a verdict (PASS/FAIL/ERROR) or check status."""
    css = STATUS_CLASSES.get(status, status)
    return f'<span class="badge {esc(css)}">{esc(CHECK_STATUS_TEXT.get(status, status))}</span>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]],
          numeric: frozenset[int] = frozenset()) -> str:
    """A table from already-escaped cell HTML; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{esc(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{cell}</td>' if column in numeric else f"<td>{cell}</td>"
            for column, cell in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_page(path: Path, text: str) -> Path:
    """Write a page atomically (a reader never sees half of it).

    Raises:
        PageError: it cannot be written.
    """
    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise PageError(f"{path}: cannot be written: {exc}") from None
