"""ChildProcess: a child's readiness is read from its own output, not an earlier child's."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.processes import ChildProcess


def test_wait_for_line_reads_only_this_starts_output(tmp_path: Path) -> None:
    """A reused folder's log still holds the last child's "ready" line (with its port): the
    next child's wait must find its own line, written later, not the stale one."""
    log = tmp_path / "server.log"
    first = ChildProcess("first", [sys.executable, "-c", "print('ready 1', flush=True)"], log)
    first.start()
    assert first.wait_for_line(r"ready (\d)", timeout=30)[1] == "1"
    first.stop()
    second = ChildProcess("second", [sys.executable, "-c",
                                     "import time; time.sleep(0.5); print('ready 2', flush=True);"
                                     " time.sleep(30)"], log)
    second.start()
    try:
        assert second.wait_for_line(r"ready (\d)", timeout=30)[1] == "2"
    finally:
        second.stop()
    assert "ready 1" in log.read_text() and "ready 2" in log.read_text()  # one log, appended
