"""Where a target's lock reports come from: an HTTP URL or a file.

A URL must answer with a JSON array of lockwatch reports (the reference
server's ``/debug/locks``). A file may hold lockwatch JSONL or go-deadlock's
text output; :func:`lockwatch.parse_reports` reads both, so a Go
service that uses go-deadlock can be tested as it is.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

from harness.errors import ComponentError
from harness.net.httpget import HttpFailed, get_json
from lockwatch import parse_reports
from lockwatch.render import HEADER

__all__ = ["LockReportSource", "LockReportTracker", "LockReportsUnavailable"]


class LockReportsUnavailable(ComponentError):
    """The source could not be read; the message says which and why."""


class LockReportSource:
    """Read every lock report so far from ``spec`` (a URL or a file path).

    ``context`` verifies an ``https://`` URL (the target's own CA, see :mod:`harness.net.tls`);
    None: the system's CAs.
    """

    def __init__(self, spec: str, timeout: float = 2.0,
                 context: ssl.SSLContext | None = None) -> None:
        self.spec = spec
        self.timeout = timeout
        self.context = context
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
                data = get_json(self.spec, timeout=self.timeout, context=self.context)
            except HttpFailed as exc:
                raise LockReportsUnavailable(f"lock reports at {self.spec}: {exc.reason}") from None
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


class LockReportTracker:
    """The lock reports of one run: those its source gained since the run started.

    An external target's source may hold reports from before this run, so the tracker
    counts from a baseline taken at the start (go-deadlock's text has no timestamps, so
    counting is the only way that works for every source). A report without a time is
    stamped with the moment the tracker first saw it; sources are append-only, so
    positions are stable.

    Args:
        source: Where the reports are; None when the target has none (then
            :attr:`available` is False, and ``lock_reports`` checks have no data).
    """

    def __init__(self, source: LockReportSource | None) -> None:
        self.source = source
        self.baseline = 0
        self.reports: list[dict[str, Any]] = []
        self._first_seen: list[float] = []

    @property
    def available(self) -> bool:
        """Whether there is a source to read at all."""
        return self.source is not None

    def take_baseline(self) -> None:
        """Remember how many reports the source holds now; only later ones are this run's.

        Raises:
            LockReportsUnavailable: the source cannot be read.
        """
        if self.source is not None:
            self.baseline = len(self.source.fetch())

    def poll(self, final: bool = False) -> list[dict[str, Any]]:
        """Read the reports so far and return this run's.

        Mid-run a failed read keeps what was read before (the next poll tries again);
        the final read must succeed, or ``lock_reports == 0`` would be a silent PASS.

        Raises:
            LockReportsUnavailable: only with ``final``, when the source cannot be read.
        """
        if self.source is None:
            return self.reports
        try:
            reports = self.source.fetch()
        except LockReportsUnavailable:
            if final:
                raise
            return self.reports
        new_reports = reports[self.baseline:]
        now = time.time()
        while len(self._first_seen) < len(new_reports):
            self._first_seen.append(now)
        for report, first_seen in zip(new_reports, self._first_seen, strict=False):
            if not report.get("time"):
                report["time"] = first_seen
        self.reports = new_reports
        return self.reports
