"""Socket.IO (Engine.IO 4, WebSocket transport), seen from a member ("socketio").

The packets are encoded and decoded by python-socketio's and python-engineio's
own packet classes (``socketio.packet``, ``engineio.packet``); this module only
says which packets a member sends and what the ones it receives mean, so the
Socket.IO session is read by the same receiver as every other protocol (see
:mod:`harness.loadgen.receiver`). The room events are those of
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

Other servers' event names and shapes are described in the scenario's
``[protocol]`` table (:meth:`SocketIO.from_description`, docs/protocols.md):
per operation its event, its arguments (a template, as the json kind's), and
whether an acknowledgement confirms it, or an event the server emits back
(``confirmed_by``), or nothing; ``leave = "disconnect"`` leaves by closing; the
``message`` event and where its fields are in its arguments; ``push``, the event a
server emits by itself (a heartbeat, an update) and where its ``id``, ``sent_at``, ``room``
and ``body`` are (:class:`~.base.Pushed`).

Binary packets (attachments) are not supported: they come back as
:class:`~.base.Unparseable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engineio import packet as eio
from socketio import packet as sio

from harness.protocols import base
from harness.protocols.base import ClientProtocol, Delivered, Event, MessageId
from harness.protocols.fields import integer as _integer
from harness.protocols.fields import message as _message
from harness.protocols.fields import text as _text
from harness.protocols.jsonframes import (
    MESSAGE_FIELDS,
    _compile,
    _lookup,
    _path,
    _reject_unknown,
    _render,
    _seconds,
)

# (jsonframes' template and path helpers: the same templates and paths as kind = "json".)

__all__ = ["SocketIO"]

#: The ack id each operation asks with; the server's acknowledgement carries it back.
ACK_IDS: dict[str, int] = {"join": 1, "broadcast": 2, "leave": 3}
_CONFIRMATIONS = {1: "joined", 2: "broadcasted", 3: "left"}
_CONFIRMS = {"join": "joined", "broadcast": "broadcasted", "leave": "left"}
#: The placeholders each operation's ``args`` may name.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "join": ("room", "member"),
    "broadcast": ("room", "member", "id", "sent_at", "body"),
    "leave": ("room", "member"),
}
#: targets/socketio_room's events: each operation asks for an acknowledgement.
DEFAULTS: dict[str, dict[str, Any]] = {
    "join": {"event": "join", "args": [{"room": "{room}", "member": "{member}"}]},
    "broadcast": {"event": "broadcast", "args": [
        {"room": "{room}", "id": "{id}", "body": "{body}", "sent_at": "{sent_at}"}]},
    "leave": {"event": "leave", "args": [{"room": "{room}"}]},
}
OPERATION_KEYS = ("event", "args", "ack", "confirmed_by")
#: ``leave = "disconnect"``: leave by closing the connection.
DISCONNECT = "disconnect"


@dataclass(frozen=True)
class _Operation:
    """One operation's event: its name, its arguments (a compiled template), and what
    confirms it: the acknowledgement (``ack``), an event of that name (``confirmed_by``),
    or nothing."""

    event: str
    args: list[Any]
    ack: bool
    confirmed_by: str | None


def _operation(name: str, value: Any) -> _Operation:
    where = f"[protocol] {name}"
    if not isinstance(value, Mapping):
        raise ValueError(f'{where} must be a table, e.g. {name} = {{event = "{name}", '
                         'ack = false}' + (', or "disconnect" to leave by closing'
                                           if name == "leave" else ""))
    _reject_unknown(value, OPERATION_KEYS, where)
    event = value.get("event", DEFAULTS[name]["event"])
    if not isinstance(event, str) or not event:
        raise ValueError(f"{where} event must be the event's name, e.g. \"{name}\"")
    args = value.get("args", DEFAULTS[name]["args"])
    if not isinstance(args, list):
        raise ValueError(f'{where} args must be an array of the event\'s arguments, e.g. '
                         'args = ["{member}"]')
    ack = value.get("ack", "confirmed_by" not in value)
    if not isinstance(ack, bool):
        raise ValueError(f"{where} ack must be true or false")
    confirmed_by = value.get("confirmed_by")
    if confirmed_by is not None and (not isinstance(confirmed_by, str) or not confirmed_by):
        raise ValueError(f"{where} confirmed_by must be the name of the event that confirms "
                         "it, e.g. \"login\"")
    if ack and confirmed_by is not None:
        raise ValueError(f"{where} has ack = true and confirmed_by: one confirmation only; "
                         "drop one")
    return _Operation(event, _compile(args, f"{where}.args", PLACEHOLDERS[name]), ack,
                      confirmed_by)


#: The keys of a ``message`` or ``push`` rule.
_RULE_KEYS: tuple[str, ...] = ("event", "fields")


def _fields_table(fields: Any, where: str, allowed: tuple[str, ...],
                  example: str) -> Mapping[str, Any]:
    """A rule's ``fields``: a table of paths into the event's arguments, keys ``allowed``
    (``example``: such a table, for the message)."""
    if not isinstance(fields, Mapping):
        raise ValueError(f"{where} fields must be a table of paths into the event's "
                         f"arguments, e.g. fields = {example}")
    _reject_unknown(fields, allowed, f"{where} fields")
    return fields


def _message_rule(value: Any) -> tuple[str, dict[str, tuple[str | int, ...]] | None]:
    where = "[protocol] message"
    if not isinstance(value, Mapping):
        raise ValueError(f'{where} must be a table, e.g. message = {{event = "new message", '
                         'fields = {id = "0.message.id"}}')
    _reject_unknown(value, _RULE_KEYS, where)
    event = value.get("event", "message")
    if not isinstance(event, str) or not event:
        raise ValueError(f"{where} event must be the event's name, e.g. \"new message\"")
    if "fields" not in value:
        return event, None
    fields = _fields_table(value["fields"], where, MESSAGE_FIELDS,
                           '{id = "0.id", sender = "0.from"}')
    if "id" not in fields and "sent_at" not in fields:
        raise ValueError(f"{where} fields needs id (the {{id}} the sender put in) or sent_at, "
                         "or delivery time cannot be measured")
    return event, {key: _path(path, f"{where} fields {key}") for key, path in fields.items()}


#: Where a server's own push keeps its parts (paths into the event's arguments).
PUSH_FIELDS: tuple[str, ...] = ("id", "sent_at", "room", "body")


def _push_rule(value: Any) -> tuple[str, dict[str, tuple[str | int, ...]]]:
    where = "[protocol] push"
    if not isinstance(value, Mapping) or not isinstance(value.get("event"), str) \
            or not value["event"]:
        raise ValueError(f'{where} must be a table with the event\'s name, e.g. push = '
                         '{event = "tick", fields = {sent_at = "0.at"}}')
    _reject_unknown(value, _RULE_KEYS, where)
    fields = _fields_table(value.get("fields", {}), where, PUSH_FIELDS, '{id = "0.id"}')
    return value["event"], {key: _path(path, f"{where} fields {key}")
                            for key, path in fields.items()}


def _send(packet_type: int, data: Any = None, ack_id: int | None = None) -> str:
    """A Socket.IO packet inside an Engine.IO message, as text."""
    inner = sio.Packet(packet_type, data=data, id=ack_id).encode()
    encoded = eio.Packet(eio.MESSAGE, data=inner).encode()
    assert isinstance(encoded, str)
    return encoded


class SocketIO(ClientProtocol):
    """Socket.IO client side; it keeps only the member's name (for ``{member}``)."""

    name: ClassVar[str] = "socketio"
    awaits_open = True

    def __init__(self, operations: Mapping[str, _Operation] | None = None,
                 message_event: str = "message",
                 message_fields: Mapping[str, tuple[str | int, ...]] | None = None,
                 push: tuple[str, Mapping[str, tuple[str | int, ...]]] | None = None) -> None:
        self._push_event: str | None = push[0] if push else None
        self._push_fields = dict(push[1]) if push else {}
        self._operations = dict(operations) if operations is not None else {
            name: _operation(name, {}) for name in DEFAULTS}
        self._message_event = message_event
        self._message_fields = None if message_fields is None else dict(message_fields)
        #: Events that confirm an operation, by name: "joined", "broadcasted" or "left".
        self._confirmed_by = {operation.confirmed_by: _CONFIRMS[name]
                              for name, operation in self._operations.items()
                              if operation.confirmed_by is not None}
        confirms = {name: operation.ack or operation.confirmed_by is not None
                    for name, operation in self._operations.items()}
        self.confirms_join = confirms["join"]
        self.confirms_broadcast = confirms["broadcast"]
        self.confirms_leave = confirms.get("leave", False)
        self._member = ""

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> SocketIO:
        """Event names and confirmations; the defaults are targets/socketio_room's.

        Raises:
            ValueError: one line: an unknown key, a bad value, an ambiguous confirmation.
        """
        for key in description:
            if key not in (*DEFAULTS, "message", "push"):
                raise ValueError(f"unknown key '{key}' in [protocol] (kind = \"socketio\" "
                                 "takes: join, broadcast, leave, message, push)")
        push = _push_rule(description["push"]) if "push" in description else None
        operations = {}
        for name in DEFAULTS:
            value = description.get(name, {})
            if name == "leave" and value == DISCONNECT:
                continue
            operations[name] = _operation(name, value)
        event, fields = _message_rule(description.get("message", {}))
        seen: dict[str, str] = {}
        for name, operation in operations.items():
            by = operation.confirmed_by
            if by is None:
                continue
            if by == event:
                raise ValueError(f"[protocol] {name} confirmed_by = {by!r} is also the message "
                                 "event; a confirmation must be another event")
            if by in seen:
                raise ValueError(f"[protocol] {seen[by]} and {name} are both confirmed_by "
                                 f"{by!r}; give each its own event, or ack = false without "
                                 "confirmed_by")
            seen[by] = name
        if push is not None and push[0] in (event, *seen):
            raise ValueError(f"[protocol] push event {push[0]!r} is also the message event or "
                             "a confirmation; a push must be an event of its own")
        return cls(operations, event, fields, push)

    def connect_url(self, url: str, room: str, member: str) -> str:
        """``url`` with Socket.IO's default path and Engine.IO's query where they are missing."""
        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else "/socket.io/"
        query = dict(parse_qsl(parts.query))
        query.setdefault("EIO", "4")
        query.setdefault("transport", "websocket")
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))

    def opened(self, room: str, member: str) -> tuple[str, ...]:
        self._member = member
        return ()

    def _event(self, name: str, **values: Any) -> str:
        operation = self._operations[name]
        arguments = _render(operation.args, {"member": self._member, **values})
        return _send(sio.EVENT, [operation.event, *arguments],
                     ACK_IDS[name] if operation.ack else None)

    def join_frame(self, room: str, member: str) -> str:
        self._member = member
        return self._event("join", room=room)

    def leave_frame(self, room: str) -> str | None:
        """The leave event; ``None`` (close the connection) with ``leave = "disconnect"``."""
        return self._event("leave", room=room) if "leave" in self._operations else None

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        if not math.isfinite(sent_at):
            raise ValueError(f"sent_at {sent_at!r} is not a finite number")
        return self._event("broadcast", room=room, id=message_id, body=body, sent_at=sent_at)

    def ack_frame(self, message: Delivered) -> str | None:
        ack_id = message.frame.id if isinstance(message.frame, sio.Packet) else None
        return None if ack_id is None else _send(sio.ACK, [], ack_id)

    def classify(self, raw: str | bytes) -> Event | list[Event]:
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

    def _socketio_event(self, packet: sio.Packet, raw: str) -> Event | list[Event]:
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
            name = arguments[0] if arguments else None
            if name == self._message_event:
                return self._delivered(packet, raw)
            if name is not None and name == self._push_event:
                pushed = self._pushed(packet)
                if packet.id is None:
                    return pushed
                return [base.Answer(_send(sio.ACK, [], packet.id),
                                    f"push {name!r} asks for an ack", packet), pushed]
            confirms = self._confirmed_by.get(name) if type(name) is str else None
            if confirms is not None:
                confirmation = self._confirmation_event(confirms, packet)
                if packet.id is None:
                    return confirmation
                return [base.Answer(_send(sio.ACK, [], packet.id),
                                    f"event {name!r} asks for an ack", packet), confirmation]
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
    def _confirmation_event(confirms: str, packet: sio.Packet) -> Event:
        if confirms == "joined":
            return base.Joined(None, None, None, packet)
        if confirms == "broadcasted":
            return base.Broadcasted(None, None, None, packet)
        return base.Left(None, packet)

    def _delivered(self, packet: sio.Packet, raw: str) -> Event:
        if self._message_fields is not None:
            return self._described_message(packet, raw)
        payload = packet.data[1] if len(packet.data) > 1 else None
        if not isinstance(payload, dict):
            return base.Unparseable(f"a message event without an object: {payload!r}"[:200], raw)
        return _message(payload, packet, raw)

    def _described_message(self, packet: sio.Packet, raw: str) -> Event:
        """A message read by ``[protocol] message.fields``: paths into its arguments."""
        assert self._message_fields is not None
        arguments = packet.data[1:]
        parts = {key: _lookup(arguments, path) for key, path in self._message_fields.items()}
        message_id = parts.get("id", "")
        if type(message_id) is not str and type(message_id) is not int:
            where = ".".join(map(str, self._message_fields.get("id", ())))
            return base.Unparseable(f"{self._message_event!r} event without a string or "
                                    f"integer id at {where}", raw)
        sender, room, body = parts.get("sender"), parts.get("room"), parts.get("body")
        return Delivered(room=room if type(room) is str else None,
                         sender=sender if type(sender) is str else None, id=message_id,
                         sent_at=_seconds(parts.get("sent_at")), seq=None,
                         body=body if type(body) in (str, int, float, dict, list) else None,
                         frame=packet)

    def _pushed(self, packet: sio.Packet) -> Event:
        """A push read by ``[protocol] push.fields``: paths into its arguments."""
        arguments = packet.data[1:]
        parts = {key: _lookup(arguments, path) for key, path in self._push_fields.items()}
        push_id, room, body = parts.get("id"), parts.get("room"), parts.get("body")
        return base.Pushed(room=room if type(room) is str else None,
                           id=push_id if type(push_id) in (str, int) else None,
                           sent_at=_seconds(parts.get("sent_at")),
                           body=body if type(body) in (str, int, float, dict, list) else None,
                           frame=packet)
