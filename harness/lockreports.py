"""Where a target's lock reports come from: an HTTP URL or a file.

A URL must answer with a JSON array of lockwatch reports (the reference
server's ``/debug/locks``). A file may hold lockwatch JSONL or go-deadlock's
text output; :func:`harness.lockwatch.parse_reports` reads both, so a Go
service that uses go-deadlock can be tested as it is.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .lockwatch import parse_reports
from .lockwatch.render import HEADER

__all__ = ["LockReportSource", "LockReportsUnavailable"]


class LockReportsUnavailable(Exception):
    """The source could not be read; the message says which and why."""


class LockReportSource:
    """Read every lock report so far from ``spec`` (a URL or a file path)."""

    def __init__(self, spec: str, timeout: float = 2.0) -> None:
        self.spec = spec
        self.timeout = timeout
        self.is_url = spec.startswith(("http://", "https://"))
        # A lockwatch JSONL file only grows, one report per line: parse just the new lines.
        self._parsed_bytes = 0
        self._parsed: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"LockReportSource({self.spec!r})"

    def fetch(self) -> list[dict[str, Any]]:
        """Return all reports so far as dicts (``Report.to_dict()`` form).

        A file that does not exist yet means no reports yet.

        Raises:
            LockReportsUnavailable: the URL did not answer, or answered garbage.
        """
        if self.is_url:
            try:
                with urllib.request.urlopen(self.spec, timeout=self.timeout) as response:
                    data = json.loads(response.read())
            except (OSError, urllib.error.URLError, ValueError) as exc:
                raise LockReportsUnavailable(f"lock reports at {self.spec}: {exc}") from None
            if not isinstance(data, list):
                raise LockReportsUnavailable(
                    f"lock reports at {self.spec}: expected a JSON array, got {type(data).__name__}"
                )
            return [report for report in data if isinstance(report, dict)]
        path = Path(self.spec)
        whole = self._parsed_bytes < 0  # go-deadlock text: its blocks span lines
        try:
            with path.open("rb") as file:
                if not whole and file.seek(0, 2) < self._parsed_bytes:  # truncated: start over
                    self._parsed_bytes, self._parsed = 0, []
                file.seek(0 if whole else self._parsed_bytes)
                data = file.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise LockReportsUnavailable(f"lock reports in {path}: {exc}") from None
        if whole:
            return [report.to_dict() for report in parse_reports(data.decode(errors="replace"))]
        end = data.rfind(b"\n") + 1
        complete, rest = data[:end].decode(errors="replace"), data[end:].decode(errors="replace")
        if HEADER in complete or HEADER in rest:  # not only lockwatch JSONL: parse it all
            self._parsed_bytes, self._parsed = -1, []
            return self.fetch()
        # Lockwatch JSONL only grows, one report per line: parse just the new lines. Parsing
        # a megabyte of stacks at every poll stalled the load generator (its lag probe showed
        # it) and cost the harness a quarter of a core.
        self._parsed += [report.to_dict() for report in parse_reports(complete)]
        self._parsed_bytes += end
        # A last line without its newline yet counts if it is a whole report (as before).
        return self._parsed + [report.to_dict() for report in parse_reports(rest)]
