"""A user's own protocol class, named in a scenario as ``tests.userprotocol:ChatOverUrl``.

It speaks the join-by-connect server of tests/jsonservers.py in code, the way a
user would for a protocol that the json description cannot express.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from harness.protocols import ClientProtocol, Delivered, Event, MessageId, Other, Unparseable


class ChatOverUrl(ClientProtocol):
    """Join by connecting to ``/chat?room=R&user=U``; ``say``/``chat`` frames; nothing confirmed."""

    name: ClassVar[str] = "chat-over-url"
    joins_by_connect = True
    confirms_join = confirms_broadcast = confirms_leave = False

    def connect_url(self, url: str, room: str, member: str) -> str:
        parts = urlsplit(url)
        query = f"room={quote(room, safe='')}&user={quote(member, safe='')}"
        return urlunsplit((parts.scheme, parts.netloc, "/chat", query, ""))

    def join_frame(self, room: str, member: str) -> None:
        return None

    def leave_frame(self, room: str) -> None:
        return None

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        return json.dumps({"say": body, "ref": message_id})

    def ack_frame(self, message: Delivered) -> None:
        return None

    def classify(self, raw: str | bytes) -> Event:
        try:
            frame = json.loads(raw)
        except ValueError as exc:
            return Unparseable(f"not JSON: {exc}", raw)
        if isinstance(frame, dict) and frame.get("event") == "chat":
            return Delivered(None, frame.get("from"), frame.get("ref", ""), None, None,
                             frame.get("text"), frame)
        return Other("not a chat frame", frame)
