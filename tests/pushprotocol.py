"""A user's own class for tests/pushservers.py's plain dashboard, written from
docs/protocols.md ("Your own class", "Server-push rooms") alone.

Members only listen: it joins and leaves by frame (``{"type": "join", ...}`` confirmed by
``joined``, ``leave`` by ``left``), builds no broadcast (``broadcasts = False``), and
classifies each ``tick`` and ``task`` as :class:`~harness.protocols.Pushed` with the
server's time (``at``) and id; a push that asks for an acknowledgement (``"ack": true``) is
answered at once with :class:`~harness.protocols.Answer`, in the same list.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from harness.protocols import (
    Answer,
    ClientProtocol,
    Delivered,
    Event,
    Joined,
    Left,
    MessageId,
    Other,
    Pushed,
    Unparseable,
)


class DashboardListener(ClientProtocol):
    """The dashboard's frames; one instance per member (stateless here)."""

    name: ClassVar[str] = "dashboard-listener"
    broadcasts = False

    def connect_url(self, url: str, room: str, member: str) -> str:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/ws"

    def join_frame(self, room: str, member: str) -> str:
        return json.dumps({"type": "join", "room": room, "member": member})

    def leave_frame(self, room: str) -> str:
        return json.dumps({"type": "leave"})

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        raise ValueError("the dashboard's members only listen")

    def ack_frame(self, message: Delivered) -> None:
        return None

    def classify(self, raw: str | bytes) -> Event | list[Event]:
        try:
            frame = json.loads(raw)
            kind = frame["type"]
        except (ValueError, TypeError, KeyError) as exc:
            return Unparseable(f"not a dashboard frame: {type(exc).__name__}", raw)
        if kind == "joined":
            return Joined(frame.get("room"), None, None, frame)
        if kind == "left":
            return Left(None, frame)
        if kind not in ("tick", "task"):
            return Other(f"a {kind!r} frame", frame)
        at = frame.get("at")
        pushed = Pushed(frame.get("room"), frame.get("id"),
                        float(at) if isinstance(at, int | float) else None, frame.get("text"),
                        frame)
        if frame.get("ack") is True:
            return [Answer(json.dumps({"type": "ack", "id": frame.get("id")}), "push ack",
                           frame), pushed]
        return pushed
