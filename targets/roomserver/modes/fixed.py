"""What careful servers do (the gorilla/websocket chat hub is the model).

Under the read lock, take a snapshot of the members and put the message into
each member's bounded outbox; one writer task per member drains it in order.
A member whose outbox is full is a slow consumer: it is disconnected with
close code 1008 rather than allowed to slow everyone down. No network I/O
happens under a lock.
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
        if not member.enqueue(member.message_frame(message)):
            ctx.metrics.slow_consumer_disconnects += 1
            # Closing is network I/O: do it in the background, outside any lock.
            ctx.spawn(member.close_slow_consumer(), name=f"close slow {member.label}")
    return len(recipients)
