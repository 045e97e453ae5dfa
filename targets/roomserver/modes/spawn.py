"""The Go article's fix: one task per send, started under the read lock.

The lock is released at once, so joins no longer wait. Kept faithful on
purpose: there is no bound on pending sends and no per-member ordering, costs
that the harness can show (``roomserver_pending_sends`` on ``/metrics``
counts the send tasks not finished yet).
"""

from __future__ import annotations

from targets.roomserver.connection import Connection, OutgoingMessage
from targets.roomserver.context import ServerContext
from targets.roomserver.protocol import EncodedMessage
from targets.roomserver.rooms import Room


async def _send(member: Connection, frame: OutgoingMessage, ctx: ServerContext) -> None:
    try:
        await member.deliver_or_count(frame)
    finally:
        ctx.metrics.pending_sends -= 1


async def broadcast(room: Room, sender: Connection, message: EncodedMessage,
                    ctx: ServerContext) -> int:
    async with room.lock.read():
        recipients = room.others(sender)
        ctx.metrics.pending_sends += len(recipients)
        for member in recipients:
            frame = member.message_frame(message)
            ctx.spawn(_send(member, frame, ctx), name=f"send {room.name} to {member.label}")
        return len(recipients)
