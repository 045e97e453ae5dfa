"""Rooms: a member list behind a monitored asyncio lock."""

from __future__ import annotations

from lockwatch import aio as lockwatch_aio

__all__ = ["Room"]


class Room:
    """One room: ``members`` maps a Socket.IO session id to the member's name.

    Read or change ``members`` only under ``lock``, the lock whose misuse the
    naive mode shows.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, str] = {}
        self.lock = lockwatch_aio.Lock(f"room:{name}.members")
