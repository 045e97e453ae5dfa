"""Rooms: a member list behind a monitored, writer-preferring read/write lock."""

from __future__ import annotations

from lockwatch import aio as lockwatch_aio
from targets.roomserver.connection import Connection

__all__ = ["Room", "Rooms"]


class Room:
    """One room. ``members`` maps member names to connections.

    Read ``members`` only under ``lock.read()`` and change it only under
    ``lock.write()``: that lock is the one whose misuse this server shows.
    Mode code takes it directly, so lock reports name the mode's function as
    the place where it was grabbed.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, Connection] = {}
        self.lock = lockwatch_aio.RWLock(f"room:{name}.members")
        #: Set when the room was removed from the registry; joiners retry.
        self.closed = False

    def others(self, sender: Connection) -> list[Connection]:
        """The members other than ``sender``; call with the lock held."""
        return [member for member in self.members.values() if member is not sender]


class Rooms:
    """The room registry. Rooms appear on first join and go when empty."""

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def get_or_create(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        return room

    def discard_if_empty(self, room: Room) -> None:
        """Forget ``room`` if it has no members; call with its write lock held."""
        if not room.members and self.rooms.get(room.name) is room:
            room.closed = True
            del self.rooms[room.name]

    def member_count(self) -> int:
        return sum(len(room.members) for room in self.rooms.values())
