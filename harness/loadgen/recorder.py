"""What the per-request recorders share: record during a test, ship to the collector periodically.

A recorder listens to ``events.request`` between ``test_start`` and ``test_stop``,
ships what it recorded every ``interval`` seconds (and at ``test_stop`` and on
quitting) with ``runner.send_message``, and the collecting process (see
:mod:`.collector`) writes it. :class:`~.samples.SampleRecorder` and
:class:`~.histograms.HistogramRecorder` say what they record, how they ship it
and how the collector takes it.
"""

from __future__ import annotations

from typing import Any

import gevent

__all__ = ["RequestRecorder"]


class RequestRecorder:
    """Locust's requests, recorded between a test's start and stop and shipped periodically.

    Subclasses set :attr:`interval` and implement :meth:`_collect_on`,
    :meth:`_on_request` and :meth:`ship`.
    """

    interval: float = 1.0
    """Seconds between two shipments."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self._shipper: gevent.Greenlet | None = None
        self._recording = True

    def attach(self) -> None:
        """Hook into the runner once it exists (call from ``events.init``)."""
        runner = self.environment.runner
        if runner is None:
            return
        self._collect_on(runner)
        events = self.environment.events
        events.request.add_listener(self._on_request)
        events.test_start.add_listener(lambda **_: self._record(True))
        events.test_stop.add_listener(lambda **_: self._record(False))
        events.quitting.add_listener(lambda **_: self.close())
        self._shipper = gevent.spawn(self._ship_forever)

    def _collect_on(self, runner: Any) -> None:
        """Register what the collecting process does with each shipment (see :mod:`.collector`)."""
        raise NotImplementedError

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None, context: Any = None,
                    **_: Any) -> None:
        """Record one request if it is a member's sample and the test is running."""
        raise NotImplementedError

    def _record(self, on: bool) -> None:
        """Record between a test's start and stop only.

        After ``test_stop``, Locust kills the users and writes its HTML and CSV reports,
        which can hold its event loop for a third of a second: an operation still in
        flight then completes late, and in a p99 over a hundred joins one such join
        decides a verdict. The samples file and the histograms end at the same point,
        so both agree.
        """
        if not on:
            self.ship()
        self._recording = on

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.ship()

    def ship(self) -> None:
        """Send what was recorded since the last shipment, if anything, to the collector."""
        raise NotImplementedError

    def close(self) -> None:
        """Ship the rest and stop shipping."""
        self.ship()
        if self._shipper is not None:
            self._shipper.kill(block=False)
