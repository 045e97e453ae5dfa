"""Locust file of the load-generator benchmark: ``BenchMember`` broadcasts flat out.

Run by :mod:`harness.bench.loadgen` as ``locust -f harness/bench/locust_user.py
--room-url WS_URL ...``. ``BenchMember`` is the project's
:class:`~harness.loadgen.user.RoomUser` with no pacing: it connects and joins
once, then broadcasts in a closed loop. Its receive greenlet acknowledges every
``message`` and reports ``deliver``; every ``broadcast`` is reported too, so the
user does all the work a real member does per message, only without pauses.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import constant, events, task

from harness.loadgen.options import add_options
from harness.loadgen.user import OperationFailed, RoomUser


class BenchMember(RoomUser):
    """A room member that broadcasts as fast as the replies come back."""

    wait_time = constant(0)

    @task
    def broadcast_flat_out(self) -> None:
        try:
            if not self.connected:
                if not self.connect():
                    gevent.sleep(0.5)  # the server is unreachable; do not spin
                    return
                self.join()
            self.broadcast()
        except OperationFailed:
            pass  # reported already; the next call reconnects


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    add_options(parser)
