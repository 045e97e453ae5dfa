"""HTML reports of runs: ``report.html`` per run and ``index.html`` per matrix.

Both are single self-contained files (charts embedded as base64 PNG, style inline, nothing
loaded from anywhere) drawn from ``result.json`` alone, so they can be rebuilt at any time
with ``python -m harness report DIR``.
"""

from harness.report.build import rebuild, write_index, write_report
from harness.report.index_page import INDEX_FILE_NAME
from harness.report.model import ReportError, RunView, load_run
from harness.report.run_page import REPORT_FILE_NAME

__all__ = ["INDEX_FILE_NAME", "REPORT_FILE_NAME", "ReportError", "RunView", "load_run",
           "rebuild", "write_index", "write_report"]
