"""The room protocol of docs/wire-protocol.md ("roomchaos"), seen from a member.

Frames are built compact (no spaces), exactly as the document writes them:
``{"type":"join","room":R,"member":M}``, ``{"type":"leave","room":R}``,
``{"type":"broadcast","room":R,"id":ID,"body":B,"sent_at":T}`` and
``{"type":"ack","id":ID}``. Non-ASCII characters are escaped, and values that
are not JSON (``NaN``, infinities) raise :class:`ValueError` rather than
being sent.

``sent_at`` goes out as Python writes a float (the shortest text that reads
back the same), and the server passes that text on verbatim, so the
:class:`~harness.protocols.base.Delivered` of a message carries exactly the
float the sender put in. Other number texts (``1764582000``, ``1.5E9``) are
read as floats too.

Reading is lenient where the member does not depend on a field: a reply
without ``members`` or ``recipients`` still confirms, with ``None`` there. A
``message`` is only :class:`~harness.protocols.base.Delivered` with an id the
member can acknowledge (a string or an integer); its ``sent_at`` is ``None``
unless it is a JSON number a float can hold.

``[protocol] acks = false`` sends no ``ack``: for a server that awaits none (the reference
server's ``--delivery write``, which ignores them). A run against the bundled server in
``write`` delivery sets it by itself unless the scenario says otherwise
(:func:`~harness.protocols.roomchaos.without_acks`); each ack is a socket send, the largest
single cost of a member's delivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from harness.protocols import base
from harness.protocols.base import ClientProtocol, Delivered, Event, MessageId
from harness.protocols.fields import integer as _integer
from harness.protocols.fields import message as _message
from harness.protocols.fields import text as _text

__all__ = ["ACKS", "RoomChaos", "without_acks"]

#: The ``[protocol]`` key that turns acknowledgements off (``acks = false``).
ACKS = "acks"

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


class RoomChaos(ClientProtocol):
    """docs/wire-protocol.md, client side. Stateless: one instance can serve every connection."""

    name: ClassVar[str] = "roomchaos"

    def __init__(self, acks: bool = True) -> None:
        #: Whether each delivered message is acknowledged (``[protocol] acks``).
        self.acks = acks

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> RoomChaos:
        """``acks`` (true or false) is the only setting."""
        for key in description:
            if key != ACKS:
                raise ValueError(f"unknown key '{key}' (roomchaos takes only {ACKS} = true or "
                                 "false besides kind)")
        if ACKS not in description:
            return cls()  # as before acks existed: a user's subclass may take no arguments
        acks = description[ACKS]
        if not isinstance(acks, bool):
            raise ValueError(f"{ACKS} must be true or false, got {acks!r}")
        return cls(acks)

    def join_frame(self, room: str, member: str) -> str:
        return '{"type":"join","room":' + _encode(room) + ',"member":' + _encode(member) + "}"

    def leave_frame(self, room: str) -> str:
        return '{"type":"leave","room":' + _encode(room) + "}"

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        return ('{"type":"broadcast","room":' + _encode(room) + ',"id":' + _encode(message_id)
                + ',"body":' + _encode(body) + ',"sent_at":' + _encode(sent_at) + "}")

    def ack_frame(self, message: Delivered) -> str | None:
        if not self.acks:
            return None
        return '{"type":"ack","id":' + _encode(message.id) + "}"

    def classify(self, raw: str | bytes) -> Event:
        try:
            frame = _loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            return base.Unparseable(f"not JSON: {type(exc).__name__}: {exc}", raw)
        if type(frame) is not dict:
            return base.Unparseable(f"not a JSON object but {type(frame).__name__}", raw)
        kind = frame.get("type")
        if kind == "message":
            return _message(frame, frame, raw)
        if kind == "broadcasted":
            message_id = frame.get("id")
            return base.Broadcasted(_text(frame.get("room")),
                               message_id if type(message_id) in (str, int) else None,
                               _integer(frame.get("recipients")), frame)
        if kind == "joined":
            return base.Joined(_text(frame.get("room")), _text(frame.get("member")),
                          _integer(frame.get("members")), frame)
        if kind == "left":
            return base.Left(_text(frame.get("room")), frame)
        if kind == "error":
            return base.ErrorReply(_text(frame.get("code")), _text(frame.get("detail")), frame)
        if type(kind) is not str:
            return base.Unparseable(f"no string type: {kind!r}", raw)
        return base.Other(f"unknown type {kind!r}", frame)


def without_acks(description: Mapping[str, Any]) -> dict[str, Any]:
    """``description`` (a ``[protocol]`` table with its ``kind``) for a server that awaits no
    ack: ``acks = false`` added where the protocol is roomchaos and the table does not say."""
    table = dict(description)
    if table.get("kind", RoomChaos.name) == RoomChaos.name and ACKS not in table:
        table[ACKS] = False
    return table
