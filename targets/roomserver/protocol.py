"""Frames of the room protocol (docs/protocol.md): parsing and building.

Parsing never raises anything but :class:`ProtocolError`, whose ``code`` and
``detail`` go back to the client in an ``error`` frame. The connection stays
usable after a protocol error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_NAME_LENGTH",
    "Ack",
    "Broadcast",
    "Command",
    "Join",
    "Leave",
    "ProtocolError",
    "encode",
    "error_frame",
    "parse_frame",
]

#: Longest room or member name accepted, in characters.
MAX_NAME_LENGTH = 128

MessageId = str | int


class ProtocolError(Exception):
    """A frame that breaks the protocol; answered with an ``error`` frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    member: str


@dataclass(frozen=True, slots=True)
class Leave:
    room: str


@dataclass(frozen=True, slots=True)
class Broadcast:
    room: str
    id: MessageId
    body: Any
    sent_at: float


@dataclass(frozen=True, slots=True)
class Ack:
    id: MessageId


Command = Join | Leave | Broadcast


def _name(frame: dict[str, Any], field: str) -> str:
    value = frame.get(field)
    if not isinstance(value, str) or not value:
        raise ProtocolError("bad_field", f"'{field}' must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise ProtocolError(
            "too_long", f"'{field}' is {len(value)} characters; the limit is {MAX_NAME_LENGTH}"
        )
    return value


def _message_id(frame: dict[str, Any]) -> MessageId:
    value = frame.get("id")
    # bool is an int subclass; an id of true is almost certainly a client bug.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError("bad_field", "'id' must be a string or an integer")
    return value


def _timestamp(frame: dict[str, Any]) -> float:
    value = frame.get("sent_at")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_field", "'sent_at' must be a number (wall clock, seconds)")
    try:
        seconds = float(value)
    except OverflowError:  # a JSON integer too large for a float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ProtocolError("bad_field", "'sent_at' must be a finite number of seconds")
    return seconds


def parse_frame(raw: str | bytes) -> Command | Ack:
    """Parse one client frame into a command or an ack.

    Raises:
        ProtocolError: if the frame is not a JSON object of a known type with
            well-typed fields.
    """
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad_json", "frame must be a JSON object")
    kind = frame.get("type")
    if kind == "ack":
        return Ack(_message_id(frame))
    if kind == "join":
        return Join(_name(frame, "room"), _name(frame, "member"))
    if kind == "leave":
        return Leave(_name(frame, "room"))
    if kind == "broadcast":
        if "body" not in frame:
            raise ProtocolError("bad_field", "'body' is missing")
        return Broadcast(_name(frame, "room"), _message_id(frame), frame["body"], _timestamp(frame))
    raise ProtocolError(
        "unknown_type", f"unknown frame type {kind!r}; expected join, leave, broadcast or ack"
    )


def encode(frame: dict[str, Any]) -> str:
    """Serialize a server frame compactly."""
    return json.dumps(frame, separators=(",", ":"))


def error_frame(code: str, detail: str) -> str:
    return encode({"type": "error", "code": code, "detail": detail})
