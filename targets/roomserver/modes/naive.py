"""The bug: network I/O under the room's read lock.

Each send waits for the member's ack (``ack`` delivery) or, with ``write``
delivery, for the socket to take the frame, so one member on a slow link, or
one that stopped reading, keeps the read lock held for as long as its send
takes. A ``join`` needs the write lock and waits; because the lock prefers
writers, every later broadcast waits too.
"""

from __future__ import annotations

from targets.roomserver.connection import Connection
from targets.roomserver.context import ServerContext
from targets.roomserver.protocol import EncodedMessage
from targets.roomserver.rooms import Room


async def broadcast(room: Room, sender: Connection, message: EncodedMessage,
                    ctx: ServerContext) -> int:
    async with room.lock.read():
        recipients = room.others(sender)
        for member in recipients:
            await member.deliver_or_count(member.message_frame(message))
        return len(recipients)
