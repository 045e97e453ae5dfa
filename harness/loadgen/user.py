"""A Locust user that speaks a room protocol over a plain WebSocket.

Locust has no plain WebSocket user, so this one is built on
``websocket-client`` under gevent. Frames are built and read by the user's
:attr:`RoomUser.protocol` (Sans-I/O, :mod:`harness.protocols`; chosen by
``--protocol``, the scenario's ``[protocol]`` table); this module only moves
them and reports. The process's one receiver (:mod:`harness.loadgen.receiver`: an io
watcher per connection, one greenlet that reads every ready socket in a batch) reads every
frame of every member, whatever the protocol (Socket.IO's pings and acknowledgements
included), and hands each message to its member here; pausing a member's reading stops it
reading its socket. Each member has its own protocol instance
(a protocol may keep the member's state), told of each connection
(:meth:`~harness.protocols.ClientProtocol.opened`, whose frames go first, and
``closed``). It classifies each frame (into one event, or several in order
where one frame carries several messages): it
acknowledges each delivered message at once where the protocol acks (and
records its delivery time), sends what the protocol answers by itself
(:class:`~harness.protocols.Answer`), reports a frame it cannot read as a
``frame`` error sample with the reason and reads on, and hands confirmations
and error replies to the operation waiting for one. WebSocket pings are answered while the
member is read. Frames are read through :class:`~harness.loadgen.frames.FrameReader`
(every whole frame from one ``recv``), not ``websocket-client``'s own receive path (two or
three ``recv`` calls per frame); ``websocket-client`` still opens the connection and sends
the member's operations. What the receiver sends itself (acks, pongs, a protocol's answers)
goes through the connection's reading and never blocks it
(:meth:`~harness.loadgen.receiver.Reading.send_soon`).

Delivery time is the receiver's clock minus the send time the message
carries: its protocol's send-time field, else the send time the sender put in
the message id (:mod:`harness.protocols.sendtime`), so deliveries between
Locust processes and hosts are timed too. A server that hands back neither
(it rewrites ids) leaves its deliveries untimed; they still count as received.

Each operation is reported through ``events.request.fire`` with
``request_type`` set to the member kind (``fast`` or ``slow``) and ``name``
set to the operation: ``connect``, ``join``, ``broadcast``, ``leave``,
``deliver`` (from the sender's ``sent_at`` to receipt, per receiver) and
``frame`` (an unreadable frame: always an error). A protocol that joins by
connecting reports its connection as ``join`` and its closing as ``leave``.

Member faults (:mod:`harness.loadgen.memberfaults`) are acted out here, below the protocol:
at :meth:`RoomUser.fault_point` each kind in force for this slow member acts itself out
(:attr:`harness.faults.FaultKind.act`) through what the member offers
(:class:`harness.faults.MemberActor`): pausing its reading (the member reads nothing,
answers no ping, acknowledges nothing, whatever the protocol; a
:class:`~harness.loadgen.stalled_member.StallWatch` samples its socket meanwhile), or dropping the
connection abruptly and rejoining.
Broadcast bodies are fresh random text of ``--body-size`` bytes when that is set
(incompressible, so that a stalled member's buffers fill with real bytes).

A push the server originates (:class:`~harness.protocols.Pushed`) is a ``deliver`` sample too,
timed as the scenario's ``[push] timing`` says (:mod:`harness.loadgen.pushes`); heartbeats and
triggered pushes are owed like broadcasts.

Each member also counts messages received out of order (:mod:`harness.loadgen.order_tracker`).

Every operation is recorded in the process's operation history
(:mod:`harness.loadgen.history`) from its invocation to its end, and so is every delivery a
member is owed; the history, not each protocol, knows what is still in flight. An operation
waits for its reply at most ``--op-timeout`` seconds, then fails with ``timeout``. Once the
run drains (the harness's ``drain`` command, :data:`~harness.faults.member_commands.DRAIN`), members
start no new operation but keep reading, so that what is owed can still arrive.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import struct
import time
from typing import Any

import gevent
import websocket
from gevent.queue import Empty, Queue
from locust import User
from locust.exception import StopUser

from harness.faults import FAULT_KINDS, MEMBER
from harness.loadgen.endings import ConnectionEndings
from harness.loadgen.history import Operation, operation_history
from harness.loadgen.memberfaults import member_faults
from harness.loadgen.order_tracker import DeliveryOrder, order_recorder
from harness.loadgen.pushes import PushTimer
from harness.loadgen.receiver import Reading, receiver
from harness.loadgen.slots import MemberSlot, SlotUnavailable, slot_service
from harness.loadgen.stalled_member import CLOSED_BY_MEMBER, StallWatch
from harness.measure.measurements import TIMEOUT_ERROR
from harness.net.tls import TlsOptions
from harness.protocols import (
    ROOMCHAOS,
    Answer,
    Broadcasted,
    ClientProtocol,
    Delivered,
    Event,
    Frame,
    Joined,
    Left,
    Opened,
    Other,
    Pushed,
    Unparseable,
    build_protocol,
)
from harness.protocols.sendtime import send_time, stamped, unstamped
from harness.push import PushSettings

__all__ = ["OperationFailed", "RoomUser"]

logger = logging.getLogger(__name__)

#: The fault kinds a member acts out itself, in registry order.
MEMBER_FAULT_KINDS = tuple(kind for kind in FAULT_KINDS.values() if kind.where == MEMBER)

_TEXT, _BINARY = websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY


class OperationFailed(Exception):
    """An operation got an error reply, no reply in time, or lost its connection."""


class _Closed:
    """Put on the reply queue when the connection ends."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class RoomUser(User):
    """Base user: one WebSocket connection, one member slot."""

    abstract = True

    #: The wire protocol: builds the frames, classifies what arrives (``--protocol``).
    protocol: ClientProtocol = ROOMCHAOS
    slot: MemberSlot
    ws: websocket.WebSocket | None = None
    #: Times the server's own pushes (set in :meth:`on_start` when the run has ``[push]``).
    push_timer: PushTimer | None = None

    def on_start(self) -> None:
        self._order = DeliveryOrder()
        options = self.environment.parsed_options
        try:
            self.protocol = _protocol(self.environment)
        except ValueError as exc:
            logger.error("--protocol: %s; this user stops", exc)
            raise StopUser() from None
        slow_urls = [url.strip() for url in options.slow_urls.split(",") if url.strip()]
        try:
            self.slot = slot_service(self.environment).claim(
                options.room_url, slow_urls, options.rooms
            )
        except SlotUnavailable as exc:
            logger.error("%s; this user stops", exc)
            raise StopUser() from None
        order_recorder(self.environment).track(self._order, self.slot.kind)
        self.history = operation_history(self.environment)
        #: The server's own pushes (``--push``, the scenario's ``[push]``); None: none timed.
        self.pushes = _push_settings(self.environment)
        self.push_timer = None if self.pushes is None else PushTimer(
            self.pushes, self.history, self.slot.name)
        self.op_timeout = float(options.op_timeout)
        # A wss target seen through a proxy: keep its name for SNI, verification and Host.
        self.tls = TlsOptions(options.ca_file or None, bool(options.insecure))
        self.target_url: str | None = options.target_url or None
        self.origin: str | None = getattr(options, "origin", "") or None  # None: the target's
        self._replies: Queue = Queue()
        #: The receiver's hold on the connection (None: not connected).
        self._reading: Reading | None = None
        self._message_count = 0
        #: Broadcasts the server confirmed: the counter that ends each message id.
        self._sequence = 0
        self.body_size = int(getattr(options, "body_size", 0) or 0)
        #: How connections ended: the latest, and a stall watch's own (it reads its
        #: connection's after the user may have reconnected); bounded over any number.
        #: The member's own close is :data:`~harness.loadgen.stalled_member.CLOSED_BY_MEMBER`.
        self.endings = ConnectionEndings()
        #: What member faults keep between fault points, by kind (:meth:`fault_state`).
        self._fault_state: dict[str, dict[str, float]] = {}

    def on_stop(self) -> None:
        self.disconnect()

    # Reporting.

    def _hold_while_draining(self) -> None:
        """While the run drains, wait (for good: the run ends), so that nothing new starts
        while owed deliveries may still arrive."""
        faults = member_faults(self.environment)
        while faults.draining or self.history.ended:
            gevent.sleep(1.0)

    def _begin(self, op: str) -> Operation:
        """Record ``op`` as invoked (once the run is not draining)."""
        self._hold_while_draining()
        return self.history.invoke(self.slot.name, self.slot.kind, op)

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
        operation = self._begin("connect")
        started = time.perf_counter()
        error = self._open()
        self.history.finish(operation)
        self._fire("connect", started, error)
        return error is None

    def _open(self) -> OperationFailed | None:
        """Connect to the protocol's URL for the slot and have the receiver read it.

        Where the protocol opens a session first (:attr:`ClientProtocol.awaits_open`),
        waits for it too. Returns the failure, if any, unreported.
        """
        self.disconnect()
        url = self.protocol.connect_url(self.slot.url, self.slot.room, self.slot.name)
        try:
            # websocket-client checks UTF-8 in pure Python, byte by byte (milliseconds per
            # 10 KB frame without wsaccel); the member decodes text frames in C instead.
            ws = websocket.create_connection(
                url, timeout=self.op_timeout, skip_utf8_validation=True,
                **self.tls.connect_options(url, self.target_url, self.origin))
            ws.settimeout(None)  # the member's own sends block only its greenlet
        except (TimeoutError, websocket.WebSocketTimeoutException) as exc:  # no handshake in time
            return OperationFailed(f"{TIMEOUT_ERROR}: connect {url}: {exc}")
        except (OSError, websocket.WebSocketException) as exc:
            return OperationFailed(f"connect {url}: {exc}")
        self.ws = ws
        self._replies = Queue()
        try:
            for frame in self.protocol.opened(self.slot.room, self.slot.name):
                _send(ws, frame)
        except (OSError, websocket.WebSocketException) as exc:
            self.disconnect()
            return OperationFailed(f"send failed: {exc}")
        self._reading = receiver().watch(
            ws, lambda opcode, payload: self._on_frame(ws, opcode, payload),
            lambda error: self._on_end(ws, error))
        error = self._wait_for(Opened) if self.protocol.awaits_open else None
        if error is not None:
            self.disconnect()
        return error

    def disconnect(self, abrupt: bool = False) -> None:
        """Close the connection at once: a close frame (none when ``abrupt``), then the socket.

        Not websocket-client's ``close()``: it waits for the server's close frame inside a
        bare ``except:``, which swallows the ``GreenletExit`` Locust stops a user with; a
        user stopped there ran on, and Locust never exited (seen with protocols that leave
        by closing, which close in every cycle).
        """
        self._order.close()
        if self.push_timer is not None:
            self.push_timer.left()
        self.history.closed(self.slot.name)
        ws, self.ws = self.ws, None
        if self._reading is not None:
            self._reading.close()
            self._reading = None
        if ws is not None:
            self.protocol.closed()
            self.endings.record(ws, None, CLOSED_BY_MEMBER)
            if ws.connected and not abrupt:
                with contextlib.suppress(OSError, websocket.WebSocketException):
                    ws.send_close()
            ws.shutdown()

    def _on_frame(self, ws: websocket.WebSocket, opcode: int, payload: bytes) -> None:
        """One message the receiver read: classify it and act on each event. Raising ends
        the connection (:meth:`_on_end`)."""
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code, reason = _close_status(payload)
            self.endings.record(ws, code, reason)
            raise websocket.WebSocketConnectionClosedException(
                f"closed by server (code {code}{': ' + reason if reason else ''})")
        raw: str | bytes = payload.decode("utf-8") if opcode == _TEXT else payload
        protocol = self.protocol
        try:
            events = protocol.classify(raw)
        except Exception as exc:  # a user's class broke its "never raises"
            events = Unparseable(f"{type(protocol).__name__}.classify raised "
                                 f"{type(exc).__name__}: {exc}", raw)
        if isinstance(events, Event):
            self._on_event(ws, events)
        else:  # several messages in one frame, in order
            for event in events:
                self._on_event(ws, event)

    def _on_end(self, ws: websocket.WebSocket, exc: BaseException) -> None:
        """The connection ``ws`` ended (EOF, an error, the server's close, a bad frame): the
        waiting operation, if any, fails with the reason."""
        if isinstance(exc, (OSError, ValueError, websocket.WebSocketException)):
            status = getattr(ws, "status", None)
            self.endings.record(ws, None, f"{type(exc).__name__}: {exc}")
            self._replies.put(_Closed(f"connection closed ({type(exc).__name__}: {exc})"
                                      + (f", status {status}" if status else "")))
            return
        # A bug here or in a protocol class (MemoryError, ...): the reading must not end
        # silently, its socket open and unread, a stall the harness caused itself. The
        # member's operation learns of it, as of a close.
        logger.error("member %s: the receive loop failed", self.slot.name, exc_info=exc)
        self.endings.record(ws, None, f"receive loop failed: {type(exc).__name__}: {exc}")
        self._replies.put(_Closed(f"receive loop failed ({type(exc).__name__}: {exc})"))

    def _on_event(self, ws: websocket.WebSocket, event: Event) -> None:
        if type(event) is Delivered:
            self._on_message(ws, event)
        elif type(event) is Pushed:
            self._on_push(event)
        elif type(event) is Answer:
            if event.reply is not None:
                self._send_soon(ws, event.reply)
        elif type(event) is Unparseable:
            self._on_unreadable(event)
        elif type(event) is Opened and not self.protocol.awaits_open:
            pass  # nobody waits for it: it must not answer the next operation
        elif type(event) is Joined:
            # The membership starts here, not when the waiting task wakes: the messages
            # batched into the same frame after the confirmation belong to it.
            self._order.joined()
            self._replies.put(event)
        elif type(event) is not Other:
            self._replies.put(event)

    def _send_soon(self, ws: websocket.WebSocket, frame: Frame) -> None:
        """Send ``frame`` on ``ws`` from the receiver, through the connection's reading,
        without blocking it (text or binary, as :func:`_send`).

        Raises:
            WebSocketConnectionClosedException: ``ws`` is not the member's connection now
                (not connected, or connected again since).
            OSError: the send failed at once.
        """
        reading = self._reading
        if reading is None or reading.ws is not ws:
            raise websocket.WebSocketConnectionClosedException("socket is already closed.")
        if isinstance(frame, bytes):
            reading.send_soon(frame, _BINARY)
        else:
            reading.send_soon(frame.encode("utf-8"), _TEXT)

    # Member faults: what this member offers a member fault (harness.faults.MemberActor).

    def fault_point(self) -> None:
        """Act out every member fault in force for this member; call where no reply is
        awaited (in a room, between operations). Each kind says what it does
        (:attr:`~harness.faults.FaultKind.act`): a stall stops reading until lifted, a
        reconnect drops the connection and rejoins.

        Raises:
            OperationFailed: an operation a fault made (a rejoin) failed (reported).
        """
        if self.slot.kind != "slow":
            return
        faults = member_faults(self.environment)
        for kind in MEMBER_FAULT_KINDS:
            settings = faults.settings(kind.name, self.slot.index)
            if settings is not None and kind.act is not None and self.connected:
                kind.act(self, settings)

    #: The name the stall's fault point had; protocols' users may still call it.
    stall_point = fault_point

    def in_force(self, kind: str) -> bool:
        return member_faults(self.environment).wanted(kind, self.slot.index)

    def wait_lifted(self, kind: str, timeout_s: float) -> bool:
        return member_faults(self.environment).wait_lifted(kind, self.slot.index, timeout_s)

    def fault_state(self, kind: str) -> dict[str, float]:
        return self._fault_state.setdefault(kind, {})

    def report_fault(self, entry: dict[str, Any]) -> None:
        member_faults(self.environment).report(
            dict(entry, member=self.slot.name, time=time.time()))

    def stop_reading_until_lifted(self, kind: str) -> None:
        """The member stops reading until ``kind`` is lifted (bounded by Locust's own
        run time); meanwhile the member sends nothing and its socket is watched. After the
        lift it returns only once the backlog is read or the connection has ended (at most
        :data:`~harness.loadgen.stalled_member.CLEAR_TIMEOUT`): its next operation may be a leave
        that
        closes the connection (join-by-connect), which would leave the backlog unread.
        """
        ws, reading = self.ws, self._reading
        if ws is None or reading is None or not self.connected:
            return
        faults = member_faults(self.environment)
        reading.pause()
        ending = self.endings.watch(ws)
        watch = StallWatch(self.slot.name, ws.sock, faults.report, ending.get)
        watch.start()
        try:
            while not faults.wait_lifted(kind, self.slot.index, timeout=1.0):
                pass
        finally:
            watch.lifted()
            reading.resume()
        watch.wait_settled()

    def drop_connection(self) -> None:
        """End the connection abruptly: no leave, no close frame; a TCP reset (``SO_LINGER``
        0), as a phone losing its network looks to the server. What the member was owed is
        judged as for any ended connection (:meth:`OperationHistory.closed`)."""
        ws = self.ws
        if ws is None:
            return
        self.history.leaving(self.slot.name)
        if ws.sock is not None:
            with contextlib.suppress(OSError):
                ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.disconnect(abrupt=True)

    def rejoin(self) -> None:
        """Connect again (unless the protocol joins by connecting) and join the room again.

        Raises:
            OperationFailed: the connect or the join failed (reported).
        """
        if not self.protocol.joins_by_connect and not self.connect():
            raise OperationFailed("reconnect failed (reported as connect)")
        self.join()

    def body(self) -> str:
        """A broadcast body: ``--body-size`` fresh random (incompressible) characters, else
        ``hello``."""
        if self.body_size <= 0:
            return "hello"
        return base64.b64encode(os.urandom(self.body_size * 3 // 4 + 3)).decode()[:self.body_size]

    def _on_unreadable(self, event: Unparseable) -> None:
        """An error sample ``frame`` with the reason; the member reads on."""
        self.environment.events.request.fire(
            request_type=self.slot.kind,
            name="frame",
            response_time=0.0,
            response_length=len(event.raw),
            exception=OperationFailed(f"unreadable frame ({event.reason}): {event.raw[:120]!r}"),
            context={"member": self.slot.name},
        )

    def _on_message(self, ws: websocket.WebSocket, message: Delivered) -> None:
        ack = self.protocol.ack_frame(message)
        if ack is not None:
            try:
                self._send_soon(ws, ack)
            except (OSError, websocket.WebSocketException):
                return
        if message.sender is None and type(message.id) is str:
            # The ids are the harness's own (``member-N@T``): they name their sender.
            message.sender = unstamped(message.id).rpartition("-")[0] or None
        if message.sender == self.slot.name:
            return  # the server echoed this member's own message: not a delivery
        self._order.observe(message)
        self.history.received(self.slot.name, message.id)
        sent_at = message.sent_at
        if sent_at is None:
            sent_at = send_time(message.id)
        if sent_at is not None:
            self.environment.events.request.fire(
                request_type=self.slot.kind,
                name="deliver",
                response_time=max(0.0, (time.time() - sent_at) * 1000),
                response_length=0,
                exception=None,
                context={"member": self.slot.name},
            )

    def _on_push(self, push: Pushed) -> None:
        """A push the server originated: a ``deliver`` sample timed as ``[push]`` says."""
        if self.push_timer is None:
            return  # no [push]: nothing says how to time it
        seconds = self.push_timer.received(push)
        if seconds is not None:
            self.environment.events.request.fire(
                request_type=self.slot.kind, name="deliver", response_time=seconds * 1000,
                response_length=0, exception=None, context={"member": self.slot.name})

    # Operations.

    def request(self, op: str, frame: Frame | None, expect: type[Event] | None,
                intended_start: float | None = None) -> None:
        """Send ``frame``, wait for an event of type ``expect`` (``None``: none), report ``op``.

        With ``intended_start`` (a ``time.monotonic()`` value), the report also
        carries the latency corrected for coordinated omission.

        Raises:
            OperationFailed: error reply, timeout, unreadable reply or lost
                connection (reported).
        """
        operation = self._begin(op)
        started = time.perf_counter()
        error: OperationFailed | None = None
        if self.ws is None:
            error = OperationFailed("not connected")
        elif frame is None:
            error = OperationFailed(f"{self.protocol.name}: no frame for {op!r}")
        else:
            try:
                _send(self.ws, frame)
            except (OSError, websocket.WebSocketException) as exc:
                error = OperationFailed(f"send failed: {exc}")
                self.disconnect()
            else:
                error = self._wait_for(expect) if expect is not None else None
        self.history.finish(operation)
        self._fire(op, started, error, intended_start)
        if error is not None:
            raise error

    def _wait_for(self, expect: type[Event]) -> OperationFailed | None:
        """Wait for the next confirmation or error reply; ``None`` when it is ``expect``.

        On a timeout or a lost connection the member disconnects (a late reply would
        answer the next request: it starts over on a new connection).
        """
        reply: Event | _Closed | None = None
        try:
            reply = self._replies.get(timeout=self.op_timeout)
        except Empty:
            self.disconnect()
            return OperationFailed(
                f"{TIMEOUT_ERROR}: no {expect.kind!r} reply within {self.op_timeout:g} s")
        if isinstance(reply, _Closed):
            self.disconnect()
            return OperationFailed(reply.reason)
        if type(reply) is not expect:
            got = json.dumps(reply.frame, default=repr)[:120]
            return OperationFailed(f"expected {expect.kind!r}, got {got}")
        return None

    def ensure_connected(self) -> bool:
        """Connect unless connected already, or the protocol joins by connecting."""
        return self.protocol.joins_by_connect or self.connected or self.connect()

    def join(self, intended_start: float | None = None) -> None:
        """Join the slot's room: a join frame, or connecting to the room's URL.

        Raises:
            OperationFailed: reported already.
        """
        protocol = self.protocol
        expect = Joined if protocol.confirms_join else None
        if not protocol.joins_by_connect:
            if expect is None:
                self._order.joined()  # nothing confirms it: the membership starts at the send
            self.request("join", protocol.join_frame(self.slot.room, self.slot.name), expect,
                         intended_start)
            self.history.entered(self.slot.name, self.slot.kind, self.slot.room,
                                 confirmed=expect is not None)
            self._pushes_owed()
            return
        operation = self._begin("join")
        started = time.perf_counter()
        error = self._open()
        if error is None and expect is not None:
            error = self._wait_for(expect)
        self.history.finish(operation)
        self._fire("join", started, error, intended_start)
        if error is not None:
            raise error
        self.history.entered(self.slot.name, self.slot.kind, self.slot.room,
                             confirmed=expect is not None)
        self._pushes_owed()

    def _pushes_owed(self) -> None:
        if self.push_timer is not None:
            self.push_timer.joined()

    def leave(self) -> None:
        """Leave the room: a leave frame, or closing the connection (timed until closed)."""
        frame = self.protocol.leave_frame(self.slot.room)
        self._hold_while_draining()
        if self.push_timer is not None:
            self.push_timer.left()
        self.history.leaving(self.slot.name)
        if frame is not None:
            self.request("leave", frame, Left if self.protocol.confirms_leave else None)
            self.history.left(self.slot.name)
            return
        operation = self._begin("leave")
        started = time.perf_counter()
        self.disconnect()
        self.history.finish(operation)
        self._fire("leave", started)

    def broadcast(self, body: str | None = None) -> None:
        """Broadcast ``body`` (by default :meth:`body`) with the id ``member-N@T``: N is the
        count of confirmed broadcasts plus one, so a refused one is sent again with the same
        number (see harness.loadgen.order_tracker), and T the send time
        (harness.protocols.sendtime)."""
        if body is None:
            body = self.body()
        sent_at = time.time()
        message_id = stamped(f"{self.slot.name}-{self._sequence + 1}", sent_at)
        frame = self.protocol.broadcast_frame(self.slot.room, message_id, body, sent_at)
        self._hold_while_draining()
        owed = self.history.broadcast(self.slot.name, self.slot.room, message_id)
        try:
            self.request("broadcast", frame,
                         Broadcasted if self.protocol.confirms_broadcast else None)
        except OperationFailed:
            self.history.broadcast_failed(owed)
            raise
        self._sequence += 1


def _close_status(payload: bytes | str) -> tuple[int | None, str]:
    """A close frame's payload as ``(code, reason)``; code None when it has none."""
    data = payload.encode() if isinstance(payload, str) else payload
    if len(data) < 2:
        return None, ""
    return int(struct.unpack("!H", data[:2])[0]), data[2:].decode("utf-8", "replace")


def _send(ws: websocket.WebSocket, frame: Frame) -> None:
    """Send ``frame``: text as a text frame, bytes as a binary frame."""
    if isinstance(frame, bytes):
        ws.send_bytes(frame)
    else:
        ws.send(frame)


def _push_settings(environment: Any) -> PushSettings | None:
    """The ``[push]`` settings ``--push`` carries (JSON), or None without."""
    return PushSettings.from_json(getattr(environment.parsed_options, "push", "") or "")


def _protocol(environment: Any) -> ClientProtocol:
    """This member's own instance of the protocol ``--protocol`` describes (JSON of the
    ``[protocol]`` table): a protocol may keep per-member state."""
    description = getattr(environment.parsed_options, "protocol", "") or ""
    if not description:
        return ROOMCHAOS
    return build_protocol(description)
