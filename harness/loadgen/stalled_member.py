"""The ``stall`` fault acted out by one slow member: stop reading, watch the socket, resume.

While the member's reading is paused (:class:`~harness.loadgen.user.RoomUser` pauses it in the
process's receiver, :mod:`harness.loadgen.receiver`: its socket is not watched, whatever the
protocol), :class:`StallWatch` samples, every
:data:`SAMPLE_INTERVAL` seconds, the socket's receive queue (``FIONREAD``) and the send buffer
of its peer's socket, the server's own (``ss -tm``: bytes queued against the buffer's size;
every target is on loopback, so its sockets are this machine's), and reports both.
After the stall is lifted it keeps sampling until the backlog is read (the queue is back
under :func:`drained_below` of its peak), and watches whether the connection ends (the server
may disconnect the member, its close frame behind the backlog; the member's own close ends the
watch), for at most
:data:`CLEAR_TIMEOUT` seconds. The harness judges these
reports (:mod:`harness.measure.stall_evidence`); the member only measures.

Report entries (JSON, one per message), all with ``time`` and ``member``:
``{"event": "stalled"}``, ``{"event": "queue", "bytes": N, "peer_queued": Q, "peer_buffer": B}``
(the peer's figures are null where ``ss`` cannot tell), ``{"event": "resumed"}``,
``{"event": "drained", "bytes": N}``, ``{"event": "closed", "code": C, "reason": "..."}``
and ``{"event": "not_cleared", "bytes": N}``.
"""

from __future__ import annotations

import fcntl
import re
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event

__all__ = ["CLEAR_TIMEOUT", "CLOSED_BY_MEMBER", "SAMPLE_INTERVAL", "StallWatch", "drained_below",
           "peer_send_buffer", "receive_queue", "ss_filter"]

#: The reason of a connection's ending when the member closed it itself (a leave, a stop).
CLOSED_BY_MEMBER = "closed by the member"
#: Seconds between two samples of the receive queue.
SAMPLE_INTERVAL = 0.2
#: After the lift, how long the member may take to read its backlog before that is reported.
CLEAR_TIMEOUT = 15.0


def receive_queue(sock: Any) -> int:
    """Bytes waiting in ``sock``'s kernel receive queue (``FIONREAD``)."""
    answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return int(struct.unpack("i", answer)[0])


_SKMEM = re.compile(r"\btb(?P<buffer>\d+).*\bw(?P<queued>\d+)")


def peer_send_buffer(sock: Any) -> tuple[int, int] | None:
    """``(bytes queued, buffer size)`` of the send buffer of ``sock``'s peer socket, read with
    ``ss -tm`` (the peer is on this machine: loopback); None when ``ss`` cannot tell.

    The peer's ``send`` blocks once the queued bytes reach the buffer's size.
    """
    try:
        local, peer = sock.getsockname(), sock.getpeername()
        listing = subprocess.run(ss_filter(peer, local), capture_output=True, text=True,
                                 timeout=2.0, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _SKMEM.search(listing)
    if match is None:
        return None
    return int(match["queued"]), int(match["buffer"])


def ss_filter(source: tuple[Any, ...], destination: tuple[Any, ...]) -> list[str]:
    """The ``ss`` command that lists the established TCP socket from ``source`` to
    ``destination`` (socket addresses) with its memory; an IPv6 address goes in brackets
    (``[::1]:8765``), as ``ss`` wants it."""
    def endpoint(address: tuple[Any, ...]) -> str:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"

    return ["ss", "-tmnH", "state", "established", "src", endpoint(source),
            "dst", endpoint(destination)]


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
        #: Set once the stall is over for the member: backlog read, connection ended, or
        #: reported not cleared (see :meth:`wait_settled`).
        self.settled = Event()

    def _send(self, event: str, **fields: Any) -> None:
        self._report({"time": time.time(), "member": self.member, "event": event, **fields})

    def _sample(self) -> int | None:
        try:
            queued = receive_queue(self.sock)
        except (OSError, ValueError):
            return None  # the socket is gone
        self.peak = max(self.peak, queued)
        peer = peer_send_buffer(self.sock)
        self._send("queue", bytes=queued, peer_queued=peer[0] if peer else None,
                   peer_buffer=peer[1] if peer else None)
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

    def wait_settled(self, timeout: float = CLEAR_TIMEOUT + 1.0) -> bool:
        """After :meth:`lifted`, block until the backlog is read, the connection has ended or
        the backlog is reported not read (at most ``timeout`` seconds); True when settled.

        A member waits here before its next operation, so that a member whose leave closes
        the connection (join-by-connect protocols) reads its backlog before it leaves."""
        return bool(self.settled.wait(timeout))

    def _watch_clear(self) -> None:
        # The server may close the connection behind the backlog (e.g. 1008 for a slow
        # consumer): after the backlog is read, watch for that until the deadline too.
        deadline = time.monotonic() + CLEAR_TIMEOUT
        queued: int | None = self.peak
        drained = False
        while time.monotonic() < deadline:
            ended = self._closed()
            if ended is not None:
                code, reason = ended
                if reason != CLOSED_BY_MEMBER:
                    self._send("closed", code=code, reason=reason[:200])
                elif not drained:  # it left (or stopped) before its backlog was read
                    self._send("not_cleared", bytes=queued)
                self.settled.set()
                return
            if not drained:
                queued = self._sample()
                if queued is not None and queued < drained_below(self.peak):
                    self._send("drained", bytes=queued)
                    drained = True
                    self.settled.set()
            gevent.sleep(SAMPLE_INTERVAL)
        if not drained:
            self._send("not_cleared", bytes=queued)
        self.settled.set()
