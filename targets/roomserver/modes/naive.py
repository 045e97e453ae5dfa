"""The bug: network I/O under the room's read lock.

Each send waits for the member's ack, so one member on a slow link keeps the
read lock held for its whole round trip. A ``join`` needs the write lock and
waits; because the lock prefers writers, every later broadcast waits too.
"""

from __future__ import annotations

import logging

from ..connection import Connection, DeliveryFailed
from ..context import ServerContext
from ..protocol import EncodedMessage
from ..rooms import Room

logger = logging.getLogger("roomserver")


async def broadcast(
    room: Room, sender: Connection, sender_name: str, message: EncodedMessage, ctx: ServerContext
) -> int:
    async with room.lock.read():
        recipients = [member for member in room.members.values() if member is not sender]
        for member in recipients:
            try:
                await member.deliver(member.message_frame(message))
            except DeliveryFailed as exc:
                ctx.metrics.delivery_failures += 1
                logger.warning("delivery failed: %s", exc)
        return len(recipients)
