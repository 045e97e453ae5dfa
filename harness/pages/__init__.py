"""HTML pages of runs: ``report.html`` per run, ``index.html`` per matrix, ``sweep.html`` per sweep.

All are single self-contained files (charts embedded as base64 PNG, style inline, nothing
loaded from anywhere) drawn from ``result.json`` alone, so they can be rebuilt at any time
with ``python -m harness report DIR``.
"""

from harness.pages.build import rebuild, write_index, write_run_page
from harness.pages.index_page import INDEX_FILE_NAME
from harness.pages.model import PageError, RunView, load_run
from harness.runfolder.folder import REPORT_FILE_NAME

__all__ = ["INDEX_FILE_NAME", "REPORT_FILE_NAME", "PageError", "RunView", "load_run",
           "rebuild", "write_index", "write_run_page"]
