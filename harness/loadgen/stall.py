"""The ``stall`` fault acted out by one slow member: stop reading, watch the socket, resume.

While the member's receive loop is paused (:class:`~harness.loadgen.user.RoomUser` pauses it,
at the transport level, whatever the protocol), :class:`StallWatch` samples the socket's
receive queue with ``FIONREAD`` every :data:`SAMPLE_INTERVAL` seconds and reports each value.
After the stall is lifted it keeps sampling until the backlog is read (the queue is back
under :func:`drained_below` of its peak) or the connection has ended (the server may have
disconnected the member), at most :data:`CLEAR_TIMEOUT` seconds. The harness judges these
reports (:mod:`harness.stall_check`); the member only measures.

Report entries (JSON, one per message), all with ``time`` and ``member``:
``{"event": "stalled"}``, ``{"event": "queue", "bytes": N}``, ``{"event": "resumed"}``,
``{"event": "drained", "bytes": N}``, ``{"event": "closed", "code": C, "reason": "..."}``
and ``{"event": "not_cleared", "bytes": N}``.
"""

from __future__ import annotations

import fcntl
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

import gevent

__all__ = ["CLEAR_TIMEOUT", "SAMPLE_INTERVAL", "StallWatch", "drained_below", "receive_queue"]

#: Seconds between two samples of the receive queue.
SAMPLE_INTERVAL = 0.1
#: After the lift, how long the member may take to read its backlog before that is reported.
CLEAR_TIMEOUT = 15.0


def receive_queue(sock: Any) -> int:
    """Bytes waiting in ``sock``'s kernel receive queue (``FIONREAD``)."""
    answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return int(struct.unpack("i", answer)[0])


def drained_below(peak: int) -> int:
    """The queue size under which a backlog of ``peak`` bytes counts as read: a tenth of it,
    and at least 64 KiB (messages keep arriving while the member catches up)."""
    return max(64 * 1024, peak // 10)


class StallWatch:
    """Samples one stalled member's socket and reports what it sees.

    Args:
        member: The member's name (``slow-0``).
        sock: Its connection's socket.
        report: Where each entry goes (:meth:`MemberFaults.report`).
        closed: Returns ``(code, reason)`` once the connection has ended (code None when it
            ended without a close frame), else None.
    """

    def __init__(self, member: str, sock: Any, report: Callable[[dict[str, Any]], None],
                 closed: Callable[[], tuple[int | None, str] | None]) -> None:
        self.member = member
        self.sock = sock
        self._report = report
        self._closed = closed
        self.peak = 0
        self._sampler: gevent.Greenlet | None = None

    def _send(self, event: str, **fields: Any) -> None:
        self._report({"time": time.time(), "member": self.member, "event": event, **fields})

    def _sample(self) -> int | None:
        try:
            queued = receive_queue(self.sock)
        except (OSError, ValueError):
            return None  # the socket is gone
        self.peak = max(self.peak, queued)
        self._send("queue", bytes=queued)
        return queued

    def start(self) -> None:
        """The stall begins: report it and sample until :meth:`lifted`."""
        self._send("stalled")
        self._sampler = gevent.spawn(self._sample_forever)

    def _sample_forever(self) -> None:
        while True:
            self._sample()
            gevent.sleep(SAMPLE_INTERVAL)

    def lifted(self) -> None:
        """The stall is lifted (call before reading resumes): watch the backlog clear, in the
        background."""
        if self._sampler is not None:
            self._sampler.kill(block=True)
        self._send("resumed")
        gevent.spawn(self._watch_clear)

    def _watch_clear(self) -> None:
        deadline = time.monotonic() + CLEAR_TIMEOUT
        queued: int | None = self.peak
        while time.monotonic() < deadline:
            ended = self._closed()
            if ended is not None:
                code, reason = ended
                self._send("closed", code=code, reason=reason[:200])
                return
            queued = self._sample()
            if queued is not None and queued < drained_below(self.peak):
                self._send("drained", bytes=queued)
                return
            gevent.sleep(SAMPLE_INTERVAL)
        self._send("not_cleared", bytes=queued)
