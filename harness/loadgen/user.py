"""A Locust user that speaks the room protocol over a plain WebSocket.

Locust has no plain WebSocket user, so this one is built on
``websocket-client`` under gevent. A receive greenlet reads every frame: it
acknowledges each ``message`` at once (and records its delivery time) and
hands every other frame to the operation waiting for a reply. Keeping that
greenlet alive also answers the server's pings, which ``websocket-client``
does only inside ``recv``.

Each operation is reported through ``events.request.fire`` with
``request_type`` set to the member kind (``fast`` or ``slow``) and ``name``
set to the operation: ``connect``, ``join``, ``broadcast``, ``leave`` and
``deliver`` (from the sender's ``sent_at`` to receipt, per receiver).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import gevent
import websocket
from gevent.queue import Empty, Queue
from locust import User
from locust.exception import StopUser

from .slots import MemberSlot, SlotUnavailable, slot_service

__all__ = ["OperationFailed", "RoomUser"]

logger = logging.getLogger(__name__)

class OperationFailed(Exception):
    """An operation got an error reply, no reply in time, or lost its connection."""


class _Closed:
    """Put on the reply queue when the connection ends."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class RoomUser(User):
    """Base user: one WebSocket connection, one member slot."""

    abstract = True

    slot: MemberSlot
    ws: websocket.WebSocket | None = None

    def on_start(self) -> None:
        options = self.environment.parsed_options
        slow_urls = [url.strip() for url in options.slow_urls.split(",") if url.strip()]
        try:
            self.slot = slot_service(self.environment).claim(
                options.room_url, slow_urls, options.rooms
            )
        except SlotUnavailable as exc:
            logger.error("%s; this user stops", exc)
            raise StopUser() from None
        self.op_timeout = float(options.op_timeout)
        self._replies: Queue = Queue()
        self._receiver: gevent.Greenlet | None = None
        self._message_count = 0
        self._sequence = 0

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
            ws = websocket.create_connection(self.slot.url, timeout=self.op_timeout)
            ws.settimeout(None)  # the receive greenlet blocks in recv
        except (OSError, websocket.WebSocketException) as exc:
            self._fire("connect", started, OperationFailed(f"connect {self.slot.url}: {exc}"))
            return False
        self.ws = ws
        self._replies = Queue()
        self._receiver = gevent.spawn(self._receive, ws)
        self._fire("connect", started)
        return True

    def disconnect(self) -> None:
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
        try:
            while True:
                raw = ws.recv()
                if not raw:
                    raise websocket.WebSocketConnectionClosedException("closed by server")
                frame = json.loads(raw)
                if frame.get("type") == "message":
                    self._on_message(ws, frame)
                else:
                    self._replies.put(frame)
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            status = getattr(ws, "status", None)
            self._replies.put(_Closed(f"connection closed ({type(exc).__name__}: {exc})"
                                      + (f", status {status}" if status else "")))

    def _on_message(self, ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
        try:
            ws.send(json.dumps({"type": "ack", "id": frame["id"]}))
        except (OSError, websocket.WebSocketException):
            return
        sent_at = frame.get("sent_at")
        if isinstance(sent_at, int | float):
            self.environment.events.request.fire(
                request_type=self.slot.kind,
                name="deliver",
                response_time=max(0.0, (time.time() - sent_at) * 1000),
                response_length=0,
                exception=None,
                context={"member": self.slot.name},
            )

    # Operations.

    def request(self, op: str, frame: dict[str, Any], expect: str,
                intended_start: float | None = None) -> dict[str, Any]:
        """Send ``frame``, wait for a reply of type ``expect``, report ``op``.

        With ``intended_start`` (a ``time.monotonic()`` value), the report also
        carries the latency corrected for coordinated omission.

        Raises:
            OperationFailed: error reply, timeout or lost connection (reported).
        """
        started = time.perf_counter()
        error: OperationFailed | None = None
        reply: Any = None
        if self.ws is None:
            error = OperationFailed("not connected")
        else:
            try:
                self.ws.send(json.dumps(frame))
                reply = self._replies.get(timeout=self.op_timeout)
            except Empty:
                error = OperationFailed(f"no {expect!r} reply within {self.op_timeout:g} s")
            except (OSError, websocket.WebSocketException) as exc:
                error = OperationFailed(f"send failed: {exc}")
        if isinstance(reply, _Closed):
            error = OperationFailed(reply.reason)
        if error is not None:
            # A late reply would answer the next request: start over on a new connection.
            self.disconnect()
        elif error is None and reply.get("type") != expect:
            error = OperationFailed(f"expected {expect!r}, got {json.dumps(reply)[:120]}")
        self._fire(op, started, error, intended_start)
        if error is not None:
            raise error
        return dict(reply)

    def join(self, intended_start: float | None = None) -> dict[str, Any]:
        return self.request(
            "join", {"type": "join", "room": self.slot.room, "member": self.slot.name}, "joined",
            intended_start,
        )

    def leave(self) -> dict[str, Any]:
        return self.request("leave", {"type": "leave", "room": self.slot.room}, "left")

    def broadcast(self, body: str = "hello") -> dict[str, Any]:
        self._sequence += 1
        frame = {"type": "broadcast", "room": self.slot.room,
                 "id": f"{self.slot.name}-{self._sequence}", "body": body,
                 "sent_at": time.time()}
        return self.request("broadcast", frame, "broadcasted")
