"""A user's own class, written from docs/protocols.md ("Your own class") alone, for the
binary protocol of tests/chatservers.py (:data:`~tests.chatservers.BINARY_PROTOCOL`), which
no built-in kind speaks: binary frames of length-prefixed records, several to a frame.

It uses the documented contract only: one instance per member (it keeps the member's name
and where the hello is), ``opened`` to send the hello on each connection, ``awaits_open``
until the server's hello, several events from one frame, pings answered with
:class:`Answer`, no confirmation of a broadcast.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from harness.protocols import (
    Answer,
    ClientProtocol,
    Delivered,
    ErrorReply,
    Event,
    Joined,
    Left,
    MessageId,
    Opened,
    Other,
    Unparseable,
)

_SEPARATOR = b"\x1f"


def _record(kind: bytes, *fields: str) -> bytes:
    payload = _SEPARATOR.join(field.encode() for field in fields)
    return kind + struct.pack("!H", len(payload)) + payload


class BinaryRooms(ClientProtocol):
    """Length-prefixed binary records; hello first; batches of records per frame."""

    name: ClassVar[str] = "binary-rooms"
    awaits_open = True
    confirms_broadcast = False  # the server confirms no broadcast

    def __init__(self) -> None:
        self.member = ""
        self.hello_done = False

    def connect_url(self, url: str, room: str, member: str) -> str:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/bin"

    def opened(self, room: str, member: str) -> list[bytes]:
        self.member, self.hello_done = member, False
        return [_record(b"H", member)]

    def closed(self) -> None:
        self.hello_done = False

    def join_frame(self, room: str, member: str) -> bytes:
        return _record(b"J", room)

    def leave_frame(self, room: str) -> bytes:
        return _record(b"L")

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> bytes:
        return _record(b"B", str(message_id), repr(sent_at), str(body))

    def ack_frame(self, message: Delivered) -> None:
        return None

    def classify(self, raw: str | bytes) -> list[Event] | Event:
        if not isinstance(raw, bytes):
            return Unparseable("a text frame; this protocol is binary", raw)
        events: list[Event] = []
        offset = 0
        while offset < len(raw):
            if offset + 3 > len(raw):
                events.append(Unparseable("a record header cut short", raw))
                break
            kind = raw[offset:offset + 1]
            (length,) = struct.unpack("!H", raw[offset + 1:offset + 3])
            payload = raw[offset + 3:offset + 3 + length]
            offset += 3 + length
            if len(payload) != length:
                events.append(Unparseable("a record cut short", raw))
                break
            try:
                fields = [part.decode() for part in payload.split(_SEPARATOR)] if payload else []
            except UnicodeDecodeError as exc:
                events.append(Unparseable(f"a field is not UTF-8: {exc}", raw))
                continue
            events.append(self._event(kind, fields))
        return events

    def _event(self, kind: bytes, fields: list[str]) -> Event:
        if kind == b"h":
            self.hello_done = True
            return Opened(fields)
        if kind == b"j":
            return Joined(fields[0] if fields else None, self.member, None, fields)
        if kind == b"l":
            return Left(None, fields)
        if kind == b"P" and fields:
            return Answer(_record(b"Q", fields[0]), "ping", fields)
        if kind == b"e":
            return ErrorReply("error", fields[0] if fields else None, fields)
        if kind == b"m" and len(fields) == 4:
            sender, message_id, sent_at, body = fields
            try:
                when: float | None = float(sent_at)
            except ValueError:
                when = None
            return Delivered(None, sender, message_id, when, None, body, fields)
        return Other(f"record {kind!r}", fields)
