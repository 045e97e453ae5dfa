"""Socket.IO (Engine.IO 4, WebSocket transport), seen from a member ("socketio").

The packets are encoded and decoded by python-socketio's and python-engineio's
own packet classes (``socketio.packet``, ``engineio.packet``); this module only
says which packets a member sends and what the ones it receives mean, so the
Socket.IO session runs in the same receive loop as every other protocol (see
:mod:`harness.loadgen.user`). The room events are those of
``targets/socketio_room``:

- connecting: the server's Engine.IO ``open`` is answered with a namespace
  ``CONNECT``; the server's ``CONNECT`` reply is :class:`~.base.Opened`;
- ``join``, ``broadcast`` and ``leave`` are events that ask for a Socket.IO
  acknowledgement; the acknowledgement is the confirmation (ack ids 1, 2 and 3:
  a member has one operation in flight at a time, so fixed ids are enough and
  the protocol stays stateless). An acknowledgement whose payload has an
  ``error`` key is an :class:`~.base.ErrorReply`;
- a ``message`` event is :class:`~.base.Delivered` (``room``, ``from``, ``id``,
  ``sent_at``, ``body``); when the server asked for an acknowledgement (it
  emitted with a callback, or ``call``\\ ed), :meth:`SocketIO.ack_frame` answers
  it. Any other event that asks for one is answered too (:class:`~.base.Answer`);
- Engine.IO pings are answered with pongs.

Binary packets (attachments) are not supported: they come back as
:class:`~.base.Unparseable`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engineio import packet as eio
from socketio import packet as sio

from . import base
from .base import ClientProtocol, Delivered, Event, MessageId
from .fields import integer as _integer
from .fields import message as _message
from .fields import text as _text

__all__ = ["SocketIO"]

#: The ack id each operation asks with; the server's acknowledgement carries it back.
ACK_IDS: dict[str, int] = {"join": 1, "broadcast": 2, "leave": 3}
_CONFIRMATIONS = {1: "joined", 2: "broadcasted", 3: "left"}


def _send(packet_type: int, data: Any = None, ack_id: int | None = None) -> str:
    """A Socket.IO packet inside an Engine.IO message, as text."""
    inner = sio.Packet(packet_type, data=data, id=ack_id).encode()
    encoded = eio.Packet(eio.MESSAGE, data=inner).encode()
    assert isinstance(encoded, str)
    return encoded


class SocketIO(ClientProtocol):
    """Socket.IO client side, stateless: one instance serves every connection."""

    name: ClassVar[str] = "socketio"
    awaits_open = True

    def connect_url(self, url: str, room: str, member: str) -> str:
        """``url`` with Socket.IO's default path and Engine.IO's query where they are missing."""
        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else "/socket.io/"
        query = dict(parse_qsl(parts.query))
        query.setdefault("EIO", "4")
        query.setdefault("transport", "websocket")
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))

    def join_frame(self, room: str, member: str) -> str:
        return _send(sio.EVENT, ["join", {"room": room, "member": member}], ACK_IDS["join"])

    def leave_frame(self, room: str) -> str:
        return _send(sio.EVENT, ["leave", {"room": room}], ACK_IDS["leave"])

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        if not math.isfinite(sent_at):
            raise ValueError(f"sent_at {sent_at!r} is not a finite number")
        return _send(sio.EVENT, ["broadcast", {"room": room, "id": message_id, "body": body,
                                               "sent_at": sent_at}], ACK_IDS["broadcast"])

    def ack_frame(self, message: Delivered) -> str | None:
        ack_id = message.frame.id if isinstance(message.frame, sio.Packet) else None
        return None if ack_id is None else _send(sio.ACK, [], ack_id)

    def classify(self, raw: str | bytes) -> Event:
        if not isinstance(raw, str):
            return base.Unparseable("a binary frame (Socket.IO attachments are not supported)",
                                    raw)
        try:
            outer = eio.Packet(encoded_packet=raw)
        except Exception as exc:  # the decoder raises whatever its input makes it raise
            return base.Unparseable(f"not an Engine.IO packet: {type(exc).__name__}: {exc}", raw)
        if outer.packet_type == eio.OPEN:
            return base.Answer(_send(sio.CONNECT), "engine.io open", outer.data)
        if outer.packet_type == eio.PING:
            return base.Answer(eio.Packet(eio.PONG, data=outer.data).encode(), "engine.io ping")
        if outer.packet_type != eio.MESSAGE:
            return base.Other(f"engine.io packet type {outer.packet_type}", outer.data)
        if not isinstance(outer.data, str):
            return base.Unparseable("a binary Engine.IO message (not supported)", raw)
        try:
            packet = sio.Packet(encoded_packet=outer.data)
        except Exception as exc:  # as above: the decoder's own exceptions
            return base.Unparseable(f"not a Socket.IO packet: {type(exc).__name__}: {exc}", raw)
        return self._socketio_event(packet, raw)

    def _socketio_event(self, packet: sio.Packet, raw: str) -> Event:
        kind = packet.packet_type
        if kind == sio.CONNECT:
            return base.Opened(packet.data)
        if kind == sio.CONNECT_ERROR:
            error = packet.data if isinstance(packet.data, dict) else {}
            return base.ErrorReply("connect_error", _text(error.get("message")), packet.data)
        if kind == sio.ACK:
            return self._confirmation(packet, raw)
        if kind == sio.EVENT:
            arguments = packet.data if isinstance(packet.data, list) else []
            if arguments and arguments[0] == "message":
                return self._delivered(packet, raw)
            name = arguments[0] if arguments else None
            if packet.id is not None:
                return base.Answer(_send(sio.ACK, [], packet.id), f"event {name!r} asks for an ack",
                                   packet)
            return base.Other(f"event {name!r}", packet)
        if kind in (sio.BINARY_EVENT, sio.BINARY_ACK):
            return base.Unparseable("a binary Socket.IO packet (attachments are not supported)",
                                    raw)
        return base.Other(f"socket.io packet type {kind}", packet)

    @staticmethod
    def _confirmation(packet: sio.Packet, raw: str) -> Event:
        reply = packet.data[0] if isinstance(packet.data, list) and packet.data else None
        fields = reply if isinstance(reply, dict) else {}
        if "error" in fields:
            return base.ErrorReply(_text(fields.get("error")), _text(fields.get("detail")),
                                   packet)
        confirms = _CONFIRMATIONS.get(packet.id) if packet.id is not None else None
        room = _text(fields.get("room"))
        if confirms == "joined":
            return base.Joined(room, _text(fields.get("member")),
                               _integer(fields.get("members")), packet)
        if confirms == "broadcasted":
            message_id = fields.get("id")
            return base.Broadcasted(room, message_id if type(message_id) in (str, int) else None,
                                    _integer(fields.get("recipients")), packet)
        if confirms == "left":
            return base.Left(room, packet)
        return base.Other(f"an acknowledgement with an id no operation asked with: {packet.id}",
                          packet)

    @staticmethod
    def _delivered(packet: sio.Packet, raw: str) -> Event:
        payload = packet.data[1] if len(packet.data) > 1 else None
        if not isinstance(payload, dict):
            return base.Unparseable(f"a message event without an object: {payload!r}"[:200], raw)
        return _message(payload, packet, raw)
