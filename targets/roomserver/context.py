"""State shared by the whole server: settings, counters, rooms, background tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from targets.roomserver.counters import ServerMetrics
from targets.roomserver.rooms import Rooms

__all__ = ["ServerContext", "ServerMetrics"]


@dataclass
class ServerContext:
    mode: str
    send_timeout: float
    outbox_size: int
    #: ``ack`` or ``write``: how each delivery completes (see ``connection.DELIVERIES``).
    delivery: str = "ack"
    rooms: Rooms = field(default_factory=Rooms)
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``coroutine`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coroutine, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
