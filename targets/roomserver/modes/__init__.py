"""Broadcast strategies. Each mode is one module with one ``broadcast`` coroutine.

All modes share ``join`` and ``leave`` (write lock); they differ only in how a
broadcast reaches the other members of a room:

- ``naive``: sends to each member in turn while holding the read lock (the bug).
- ``spawn``: starts one task per send under the read lock (the Go article's fix).
- ``fixed``: snapshots the members, queues into bounded per-member outboxes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from targets.roomserver.connection import Connection
from targets.roomserver.context import ServerContext
from targets.roomserver.modes import fixed, naive, spawn
from targets.roomserver.protocol import EncodedMessage
from targets.roomserver.rooms import Room

__all__ = ["MODES", "BroadcastFn"]

#: ``broadcast(room, sender, message, context) -> recipients``; ``message`` is encoded once
#: (the sender's member name is already in it), ``Connection.message_frame`` adds ``seq``.
#: Each delivery is ``Connection.deliver``: acknowledged or written, as the server was started.
BroadcastFn = Callable[[Room, Connection, EncodedMessage, ServerContext], Awaitable[int]]

MODES: dict[str, BroadcastFn] = {
    "naive": naive.broadcast,
    "spawn": spawn.broadcast,
    "fixed": fixed.broadcast,
}
