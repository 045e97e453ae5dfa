"""The Go article's fix: one task per send, started under the read lock.

The lock is released at once, so joins no longer wait. Kept faithful on
purpose: there is no bound on pending sends and no per-member ordering, costs
that the harness can show.
"""

from __future__ import annotations

import logging

from ..connection import Connection, DeliveryFailed, OutgoingMessage
from ..context import ServerContext
from ..protocol import EncodedMessage
from ..rooms import Room

logger = logging.getLogger("roomserver")


async def _send(member: Connection, frame: OutgoingMessage, ctx: ServerContext) -> None:
    try:
        await member.deliver(frame)
    except DeliveryFailed as exc:
        ctx.metrics.delivery_failures += 1
        logger.warning("delivery failed: %s", exc)


async def broadcast(
    room: Room, sender: Connection, sender_name: str, message: EncodedMessage, ctx: ServerContext
) -> int:
    async with room.lock.read():
        recipients = [member for member in room.members.values() if member is not sender]
        for member in recipients:
            frame = member.message_frame(message)
            ctx.spawn(_send(member, frame, ctx), name=f"send {room.name} to {member.label}")
        return len(recipients)
