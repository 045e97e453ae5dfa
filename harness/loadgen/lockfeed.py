"""Lock reports as Locust failures.

On the master (or a local runner), a greenlet polls the target's lock reports
and fires one ``request`` event of type ``LOCK`` per new report, with the
report's duration as response time and a one-line summary as the exception.
So lock reports count in Locust's own statistics, Failures tab and HTML
report.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent

from harness.measure.lockreports import LockReportSource, LockReportsUnavailable

__all__ = ["LockFeed", "LockReportFailure", "summarize"]

logger = logging.getLogger(__name__)

POLL_INTERVAL = 1.0


class LockReportFailure(Exception):
    """One lock report, shown as a failure in Locust."""


def summarize(report: dict[str, Any]) -> str:
    """One line: kind, lock, duration and where the holder grabbed it."""
    holders = report.get("holders") or []
    site = holders[0].get("acquire_site", "?") if holders else "?"
    duration_ms = float(report.get("duration_s") or 0) * 1000
    kind, lock = report.get("kind"), report.get("lock")
    return f"{kind} on {lock} for {duration_ms:.0f} ms; holder at {site}"


class LockFeed:
    """Poll ``source`` and report each new lock report once."""

    def __init__(self, environment: Any, source: LockReportSource) -> None:
        self.environment = environment
        self.source = source
        self.reports: list[dict[str, Any]] = []
        self._greenlet: gevent.Greenlet | None = None
        self._warned = False

    def start(self) -> None:
        """Start polling; a new swarm in the web UI calls this again, so poll once only."""
        if self._greenlet is None or self._greenlet.dead:
            # Reports from before the swarm are not this swarm's (as for the harness).
            try:
                self.reports = self.source.fetch()
            except LockReportsUnavailable:
                self.reports = []
            self._greenlet = gevent.spawn(self._poll_forever)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _poll_forever(self) -> None:
        while True:
            self.poll()
            gevent.sleep(POLL_INTERVAL)

    def poll(self) -> None:
        try:
            reports = self.source.fetch()
        except LockReportsUnavailable as exc:
            if not self._warned:
                logger.warning("%s", exc)
                self._warned = True
            return
        for report in reports[len(self.reports):]:
            self.environment.events.request.fire(
                request_type="LOCK",
                name=f"{report.get('kind')} {report.get('lock')}",
                response_time=float(report.get("duration_s") or 0) * 1000,
                response_length=0,
                exception=LockReportFailure(summarize(report)),
                context={"report": report},
            )
        self.reports = reports
