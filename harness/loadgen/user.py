"""A Locust user that speaks the room protocol over a plain WebSocket.

Locust has no plain WebSocket user, so this one is built on
``websocket-client`` under gevent. Frames are built and read by the user's
:attr:`RoomUser.protocol` (Sans-I/O, :mod:`harness.protocols`); this module
only moves them and reports. A receive greenlet classifies every frame: it
acknowledges each delivered message at once (and records its delivery time)
and hands every other event to the operation waiting for a reply. Keeping
that greenlet alive also answers the server's pings, which
``websocket-client`` does only inside ``recv``.

Each operation is reported through ``events.request.fire`` with
``request_type`` set to the member kind (``fast`` or ``slow``) and ``name``
set to the operation: ``connect``, ``join``, ``broadcast``, ``leave`` and
``deliver`` (from the sender's ``sent_at`` to receipt, per receiver).

Member faults (:mod:`harness.loadgen.memberfaults`) are acted out here, below the protocol:
:meth:`RoomUser.stall_point` pauses the one receive loop (the member reads nothing, answers no
ping, acknowledges nothing) while a ``stall`` is in force for this slow member, and
:class:`~harness.loadgen.stall.StallWatch` samples its socket meanwhile. Broadcast bodies are
fresh random text of ``--body-size`` bytes when that is set (incompressible, so that a
stalled member's buffers fill with real bytes).

Each connection also counts messages received out of order or lost
(:mod:`harness.loadgen.order`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import struct
import time
from typing import Any, ClassVar

import gevent
import websocket
from gevent.event import Event as Switch
from gevent.queue import Empty, Queue
from locust import User
from locust.exception import StopUser

from harness.protocols import (
    ROOMCHAOS,
    Broadcasted,
    ClientProtocol,
    Delivered,
    Event,
    Joined,
    Left,
    Unparseable,
)
from harness.tls import TlsOptions

from .memberfaults import member_faults
from .order import DeliveryOrder, order_recorder
from .slots import MemberSlot, SlotUnavailable, slot_service
from .stall import StallWatch

__all__ = ["OperationFailed", "RoomUser"]

logger = logging.getLogger(__name__)

class OperationFailed(Exception):
    """An operation got an error reply, no reply in time, or lost its connection."""


class _Closed:
    """Put on the reply queue when the connection ends."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Ending:
    """How one connection ended, read later (the user may have reconnected meanwhile)."""

    def __init__(self, endings: dict[websocket.WebSocket, tuple[int | None, str]],
                 ws: websocket.WebSocket) -> None:
        self.endings, self.ws = endings, ws
        self.seen: tuple[int | None, str] | None = None

    def get(self) -> tuple[int | None, str] | None:
        """``(close code or None, reason)`` once the connection ended, else None."""
        self.seen = self.seen or self.endings.get(self.ws)
        return self.seen


class RoomUser(User):
    """Base user: one WebSocket connection, one member slot."""

    abstract = True

    #: The wire protocol: builds the frames, classifies what arrives.
    protocol: ClassVar[ClientProtocol] = ROOMCHAOS
    slot: MemberSlot
    ws: websocket.WebSocket | None = None

    def on_start(self) -> None:
        self._order = DeliveryOrder()
        options = self.environment.parsed_options
        slow_urls = [url.strip() for url in options.slow_urls.split(",") if url.strip()]
        try:
            self.slot = slot_service(self.environment).claim(
                options.room_url, slow_urls, options.rooms
            )
        except SlotUnavailable as exc:
            logger.error("%s; this user stops", exc)
            raise StopUser() from None
        order_recorder(self.environment).track(self._order, self.slot.kind)
        self.op_timeout = float(options.op_timeout)
        # A wss target seen through a proxy: keep its name for SNI, verification and Host.
        self.tls = TlsOptions(options.ca_file or None, bool(options.insecure))
        self.target_url: str | None = options.target_url or None
        self._replies: Queue = Queue()
        self._receiver: gevent.Greenlet | None = None
        self._message_count = 0
        #: Broadcasts the server confirmed: the counter that ends each message id.
        self._sequence = 0
        self.body_size = int(getattr(options, "body_size", 0) or 0)
        #: Set while the receive loop may read; cleared for a stall.
        self._reading = Switch()
        self._reading.set()
        #: ``(close code or None, reason)`` per connection whose receive loop ended (kept: a
        #: stall watch reads its connection's after the user has reconnected).
        self.endings: dict[websocket.WebSocket, tuple[int | None, str]] = {}

    def on_stop(self) -> None:
        self.disconnect()

    # Reporting.

    def _fire(self, op: str, started: float, error: BaseException | None = None,
              intended_start: float | None = None) -> None:
        context: dict[str, Any] = {"member": self.slot.name}
        if intended_start is not None:
            # perf_counter and monotonic may differ: convert through "now".
            now_perf, now_mono = time.perf_counter(), time.monotonic()
            context["corrected_ms"] = max(0.0, (now_mono - intended_start) * 1000,
                                          (now_perf - started) * 1000)
        self.environment.events.request.fire(
            request_type=self.slot.kind,
            name=op,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context=context,
        )

    # Connection.

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.connected

    def connect(self) -> bool:
        """Open the connection; report ``connect``; ``False`` on failure."""
        self.disconnect()
        started = time.perf_counter()
        try:
            # websocket-client checks UTF-8 in pure Python, byte by byte (milliseconds per
            # 10 KB frame without wsaccel); the receive loop decodes text frames in C instead.
            ws = websocket.create_connection(
                self.slot.url, timeout=self.op_timeout, skip_utf8_validation=True,
                **self.tls.connect_options(self.slot.url, self.target_url))
            ws.settimeout(None)  # the receive greenlet blocks in recv
        except (OSError, websocket.WebSocketException) as exc:
            self._fire("connect", started, OperationFailed(f"connect {self.slot.url}: {exc}"))
            return False
        self.ws = ws
        self._replies = Queue()
        self._reading.set()
        self._receiver = gevent.spawn(self._receive, ws)
        self._fire("connect", started)
        return True

    def disconnect(self) -> None:
        self._order.close()
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass
        if self._receiver is not None:
            self._receiver.kill(block=False)
            self._receiver = None

    def _receive(self, ws: websocket.WebSocket) -> None:
        classify = self.protocol.classify
        try:
            while True:
                self._reading.wait()  # a stall holds the loop here: nothing is read
                opcode, raw = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code, reason = _close_status(raw)
                    self.endings[ws] = (code, reason)
                    raise websocket.WebSocketConnectionClosedException(
                        f"closed by server (code {code}{': ' + reason if reason else ''})")
                if isinstance(raw, bytes) and opcode == websocket.ABNF.OPCODE_TEXT:
                    raw = raw.decode("utf-8")
                event = classify(raw)
                if type(event) is Delivered:
                    self._on_message(ws, event)
                else:
                    self._replies.put(event)
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            status = getattr(ws, "status", None)
            self.endings.setdefault(ws, (None, f"{type(exc).__name__}: {exc}"))
            self._replies.put(_Closed(f"connection closed ({type(exc).__name__}: {exc})"
                                      + (f", status {status}" if status else "")))

    # Member faults.

    def stall_point(self) -> None:
        """Act a ``stall`` out if one is in force for this member; call where no reply is
        awaited (in a room, between operations).

        The receive loop stops reading until the stall is lifted (bounded by Locust's own
        run time); meanwhile the member sends nothing and its socket is watched.
        """
        faults = member_faults(self.environment)
        if self.slot.kind != "slow" or not faults.wanted("stall", self.slot.index):
            return
        ws = self.ws
        if ws is None or not self.connected:
            return
        self._reading.clear()
        ending = Ending(self.endings, ws)
        watch = StallWatch(self.slot.name, ws.sock, faults.report, ending.get)
        watch.start()
        try:
            while not faults.wait_lifted("stall", self.slot.index, timeout=1.0):
                pass
        finally:
            watch.lifted()
            self._reading.set()

    def body(self) -> str:
        """A broadcast body: ``--body-size`` fresh random (incompressible) characters, else
        ``hello``."""
        if self.body_size <= 0:
            return "hello"
        return base64.b64encode(os.urandom(self.body_size * 3 // 4 + 3)).decode()[:self.body_size]

    def _on_message(self, ws: websocket.WebSocket, message: Delivered) -> None:
        self._order.observe(message)
        ack = self.protocol.ack_frame(message)
        if ack is not None:
            try:
                ws.send(ack)
            except (OSError, websocket.WebSocketException):
                return
        sent_at = message.sent_at
        if sent_at is not None:
            self.environment.events.request.fire(
                request_type=self.slot.kind,
                name="deliver",
                response_time=max(0.0, (time.time() - sent_at) * 1000),
                response_length=0,
                exception=None,
                context={"member": self.slot.name},
            )

    # Operations.

    def request(self, op: str, frame: str | None, expect: type[Event],
                intended_start: float | None = None) -> Event:
        """Send ``frame``, wait for an event of type ``expect``, report ``op``.

        With ``intended_start`` (a ``time.monotonic()`` value), the report also
        carries the latency corrected for coordinated omission.

        Raises:
            OperationFailed: error reply, timeout, unreadable reply or lost
                connection (reported).
        """
        started = time.perf_counter()
        error: OperationFailed | None = None
        reply: Event | _Closed | None = None
        if self.ws is None:
            error = OperationFailed("not connected")
        elif frame is None:
            error = OperationFailed(f"{self.protocol.name}: no frame for {op!r}")
        else:
            try:
                self.ws.send(frame)
                reply = self._replies.get(timeout=self.op_timeout)
            except Empty:
                error = OperationFailed(f"no {expect.kind!r} reply within {self.op_timeout:g} s")
            except (OSError, websocket.WebSocketException) as exc:
                error = OperationFailed(f"send failed: {exc}")
        if isinstance(reply, _Closed):
            error = OperationFailed(reply.reason)
        elif isinstance(reply, Unparseable):
            error = OperationFailed(f"unreadable reply ({reply.reason}): {reply.raw[:120]!r}")
        if error is not None:
            # A late reply would answer the next request: start over on a new connection.
            self.disconnect()
        elif type(reply) is not expect:
            assert isinstance(reply, Event)
            got = json.dumps(reply.frame)[:120]
            error = OperationFailed(f"expected {expect.kind!r}, got {got}")
        self._fire(op, started, error, intended_start)
        if error is not None:
            raise error
        assert isinstance(reply, Event)
        return reply

    def join(self, intended_start: float | None = None) -> Event:
        reply = self.request("join", self.protocol.join_frame(self.slot.room, self.slot.name),
                             Joined, intended_start)
        self._order.joined()
        return reply

    def leave(self) -> Event:
        return self.request("leave", self.protocol.leave_frame(self.slot.room), Left)

    def broadcast(self, body: str | None = None) -> Event:
        """Broadcast ``body`` (by default :meth:`body`); the id ends with the count of confirmed
        broadcasts plus one, so a refused one is sent again with the same number (see
        harness.loadgen.order)."""
        if body is None:
            body = self.body()
        frame = self.protocol.broadcast_frame(
            self.slot.room, f"{self.slot.name}-{self._sequence + 1}", body, time.time())
        reply = self.request("broadcast", frame, Broadcasted)
        self._sequence += 1
        return reply


def _close_status(payload: bytes | str) -> tuple[int | None, str]:
    """A close frame's payload as ``(code, reason)``; code None when it has none."""
    data = payload.encode() if isinstance(payload, str) else payload
    if len(data) < 2:
        return None, ""
    return int(struct.unpack("!H", data[:2])[0]), data[2:].decode("utf-8", "replace")
