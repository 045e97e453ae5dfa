"""Frames of the room protocol (docs/wire-protocol.md): parsing and building.

Parsing never raises anything but :class:`ProtocolError`, whose ``code`` and
``detail`` go back to the client in an ``error`` frame. The connection stays
usable after a protocol error.

Parsing is stricter than :func:`json.loads`: binary frames must be UTF-8,
nesting is limited to :data:`MAX_DEPTH` levels (checked before parsing, so the
parser never recurses deeper), ``NaN`` and ``Infinity`` are refused, and so are
numbers a double cannot hold. Every number keeps its JSON text, so ``sent_at``
is passed on exactly as it came.

Server frames are built with :func:`encode`: compact, ASCII only. A message is
encoded once per broadcast (:func:`encode_message`); each receiver's frame then
only adds its ``seq`` (:func:`message_text`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_NAME_LENGTH",
    "Ack",
    "Broadcast",
    "Command",
    "EncodedMessage",
    "Join",
    "Leave",
    "ProtocolError",
    "encode",
    "encode_message",
    "error_frame",
    "message_text",
    "parse_frame",
]

#: Longest room or member name accepted, in characters.
MAX_NAME_LENGTH = 128

#: Deepest nesting of arrays and objects in a frame; the frame object is level 1.
MAX_DEPTH = 100

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
    #: The JSON text of the number, exactly as the sender wrote it.
    sent_at: str


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


def _timestamp(frame: dict[str, Any]) -> str:
    value = frame.get("sent_at")
    if not isinstance(value, _IntLiteral | _FloatLiteral):
        raise ProtocolError("bad_field", "'sent_at' must be a number (wall clock, seconds)")
    try:
        seconds = float(value)
    except OverflowError:  # a JSON integer too large for a double
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ProtocolError("bad_field", "'sent_at' must be a finite number of seconds")
    return value.literal


class _IntLiteral(int):
    """A JSON integer that remembers its text (``-0`` stays ``-0``)."""

    literal: str


class _FloatLiteral(float):
    """A JSON number with a fraction or exponent that remembers its text."""

    literal: str


def _parse_int(text: str) -> _IntLiteral:
    try:
        value = _IntLiteral(text)
    except ValueError:  # over sys.get_int_max_str_digits()
        raise ProtocolError(
            "bad_field",
            f"an integer of {len(text.lstrip('-'))} digits is too long; "
            f"the limit is {sys.get_int_max_str_digits()} digits",
        ) from None
    value.literal = text
    return value


def _parse_float(text: str) -> _FloatLiteral:
    value = _FloatLiteral(text)
    if not math.isfinite(value):
        raise ProtocolError(
            "bad_field", f"the number {_shorten(text)} is too large for a double; "
            "numbers must be finite")
    value.literal = text
    return value


def _parse_constant(text: str) -> Any:
    raise ProtocolError("bad_field", f"{text} is not a JSON number; numbers must be finite")


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)

#: A JSON string literal (unrolled loop: linear time).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _too_deep(text: str) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than :data:`MAX_DEPTH`.

    Brackets inside strings do not count. Text that is not JSON may be
    misjudged either way; the parser refuses it then.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the usual case, at C speed
        return False
    brackets = _BRACKET.findall(_STRING.sub("", text))
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def parse_frame(raw: str | bytes) -> Command | Ack:
    """Parse one client frame into a command or an ack.

    Raises:
        ProtocolError: if the frame is not a JSON object of a known type with
            well-typed fields.
    """
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_json", "a binary frame must hold UTF-8 text") from None
    if _too_deep(text):
        raise ProtocolError(
            "bad_json", f"arrays and objects are nested too deep; the limit is {MAX_DEPTH} levels"
        )
    try:
        frame = _DECODER.decode(text)
    except ValueError as exc:
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
        room, message_id = _name(frame, "room"), _message_id(frame)
        if "body" not in frame:
            raise ProtocolError("bad_field", "'body' is missing")
        return Broadcast(room, message_id, frame["body"], _timestamp(frame))
    if "type" not in frame:
        raise ProtocolError("unknown_type", "'type' is missing")
    raise ProtocolError(
        "unknown_type",
        f"frame type {_shorten(repr(kind))} is unknown; expected join, leave, broadcast or ack",
    )


def encode(frame: dict[str, Any]) -> str:
    """Serialize a server frame compactly, in ASCII (non-ASCII is escaped as ``\\uXXXX``)."""
    return json.dumps(frame, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """One broadcast's ``message`` frame, encoded once for all receivers.

    ``head`` is the whole frame up to the value of ``seq``; :func:`message_text`
    completes it for one receiver.
    """

    id: MessageId
    head: str


def encode_message(room: str, sender: str, command: Broadcast) -> EncodedMessage:
    """Encode ``command`` as a ``message`` frame from member ``sender``, ``sent_at`` verbatim."""
    fields = encode({"type": "message", "room": room, "id": command.id, "from": sender,
                     "body": command.body})
    return EncodedMessage(command.id, f'{fields[:-1]},"sent_at":{command.sent_at},"seq":')


def message_text(message: EncodedMessage, seq: int) -> str:
    """The ``message`` frame for the receiver whose next sequence number is ``seq``."""
    return f"{message.head}{seq}}}"


def error_frame(code: str, detail: str) -> str:
    """Serialize an ``error`` frame."""
    return encode({"type": "error", "code": code, "detail": detail})
