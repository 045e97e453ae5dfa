"""How ``broadcast`` reaches the other members of a room: one function per mode.

- ``naive``: holds the room's lock while it ``call``\\ s each member, that is
  while it waits for each member's Socket.IO acknowledgement. One member on a
  slow link keeps the lock for its whole round trip; every ``join`` and
  ``leave`` of the room waits behind it, and lockwatch reports the lock held
  across an await.
- ``fixed``: copies the member list under the lock, lets go of it, and
  ``emit``\\ s to each member without waiting for anything (python-socketio
  queues each member's packets).

Each returns how many members the message went to.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from targets.socketio_room.rooms import Room

__all__ = ["MODES", "BroadcastFn"]

logger = logging.getLogger("socketio_room")

#: broadcast(server, room, sender sid, payload, send timeout) -> recipients.
BroadcastFn = Callable[[socketio.AsyncServer, Room, str, dict[str, Any], float], Awaitable[int]]


async def naive(sio: socketio.AsyncServer, room: Room, sender: str, payload: dict[str, Any],
                send_timeout: float) -> int:
    async with room.lock:
        recipients = [sid for sid in room.members if sid != sender]
        for sid in recipients:
            try:
                await sio.call("message", payload, to=sid, timeout=send_timeout)
            except socketio.exceptions.SocketIOError as exc:
                logger.warning("delivery to %s failed: %s", sid, exc or type(exc).__name__)
        return len(recipients)


async def fixed(sio: socketio.AsyncServer, room: Room, sender: str, payload: dict[str, Any],
                send_timeout: float) -> int:
    async with room.lock:
        recipients = [sid for sid in room.members if sid != sender]
    for sid in recipients:
        await sio.emit("message", payload, to=sid)
    return len(recipients)


#: Every mode by name (harness.target.BUNDLED_SERVERS lists the same, with verdicts).
MODES: dict[str, BroadcastFn] = {"naive": naive, "fixed": fixed}
