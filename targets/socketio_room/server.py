"""The Socket.IO room server: python-socketio's AsyncServer as an ASGI app.

Events (each answered through the Socket.IO acknowledgement the client asks for):

- ``join`` ``{"room": R, "member": M}`` -> ``{"room": R, "member": M, "members": N}``;
- ``broadcast`` ``{"room": R, "id": ID, "body": B, "sent_at": T}`` ->
  ``{"room": R, "id": ID, "recipients": N}``; every other member of R gets a
  ``message`` event ``{"room": R, "from": M, "id": ID, "body": B, "sent_at": T}``
  as the mode delivers it (:mod:`.modes`);
- ``leave`` ``{"room": R}`` -> ``{"room": R}``.

A bad request is answered ``{"error": CODE, "detail": TEXT}``. Plain HTTP on the
same port: ``GET /healthz`` (``ok``) and ``GET /debug/locks`` (every lock report
so far, a JSON array, as targets/roomserver serves them).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio

import lockwatch
from targets.socketio_room.modes import MODES
from targets.socketio_room.rooms import Room

__all__ = ["RoomApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _bad(detail: str) -> dict[str, str]:
    return {"error": "bad_request", "detail": detail}


class RoomApp:
    """The rooms and their Socket.IO server, in one mode.

    Args:
        mode: A key of :data:`~.modes.MODES`.
        send_timeout: How long ``naive`` waits for one member's acknowledgement.
        lock_reports: Where ``/debug/locks`` reads lock reports from.
    """

    def __init__(self, mode: str, send_timeout: float,
                 lock_reports: lockwatch.MemorySink) -> None:
        self.broadcast_to = MODES[mode]
        self.send_timeout = send_timeout
        self.lock_reports = lock_reports
        self.rooms: dict[str, Room] = {}
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
        self.sio.on("join", self.join)
        self.sio.on("leave", self.leave)
        self.sio.on("broadcast", self.broadcast)
        self.sio.on("disconnect", self.disconnect)
        self.asgi = socketio.ASGIApp(self.sio, other_asgi_app=self.http)

    def room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        return room

    async def join(self, sid: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not all(
                isinstance(data.get(key), str) and data[key] for key in ("room", "member")):
            return _bad("join takes {\"room\": string, \"member\": string}")
        room = self.room(data["room"])
        async with room.lock:
            room.members[sid] = data["member"]
            count = len(room.members)
        return {"room": room.name, "member": data["member"], "members": count}

    async def leave(self, sid: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("room"), str):
            return _bad("leave takes {\"room\": string}")
        room = self.rooms.get(data["room"])
        if room is not None:
            async with room.lock:
                if room.members.pop(sid, None) is not None:
                    return {"room": room.name}
        return {"error": "not_in_room", "detail": f"not in room {data['room']!r}"}

    async def broadcast(self, sid: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("room"), str) or type(
                data.get("id")) not in (str, int):
            return _bad("broadcast takes {\"room\": string, \"id\": string or integer, ...}")
        room = self.rooms.get(data["room"])
        sender = room.members.get(sid) if room is not None else None
        if room is None or sender is None:
            return {"error": "not_in_room", "detail": f"not in room {data['room']!r}"}
        payload = {"room": room.name, "from": sender, "id": data["id"],
                   "body": data.get("body"), "sent_at": data.get("sent_at")}
        recipients = await self.broadcast_to(self.sio, room, sid, payload, self.send_timeout)
        return {"room": room.name, "id": data["id"], "recipients": recipients}

    async def disconnect(self, sid: str, *reason: Any) -> None:
        for room in list(self.rooms.values()):
            if sid in room.members:
                async with room.lock:
                    room.members.pop(sid, None)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Plain HTTP: ``/healthz`` and ``/debug/locks``; 404 for anything else."""
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            status, kind, body = 200, "text/plain; charset=utf-8", "ok\n"
        elif scope["path"] == "/debug/locks":
            reports = [report.to_dict() for report in self.lock_reports.reports]
            status, kind, body = 200, "application/json", json.dumps(reports)
        else:
            status, kind, body = 404, "text/plain; charset=utf-8", "not found\n"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind.encode())]})
        await send({"type": "http.response.body", "body": body.encode()})
