"""Room servers that break a few seconds in, and their healthy twin (issue 18's test servers).

They speak the dialects of :mod:`tests.jsonservers` (join by frame: ``enter`` / ``entered``,
``post`` relayed as ``posted``, ``exit`` / ``exited``; join by connect: ``/chat?room=R&user=U``,
``say`` relayed as ``chat``), so the docs' own example scenarios run against them unchanged,
and Socket.IO (:func:`broken_socketio_server`: targets/socketio_room's events, fixed mode).
``after_s`` seconds after the server completed its first join (sent ``entered``, finished a
member's handshake, answered a Socket.IO ``join``; not the harness's own probe of the URL), a
:class:`Breakage` sets in for good. Its clock starts at a completed join, not at the first
request, so that on a loaded machine the room has worked at least once before it breaks:

- ``freeze``: the room freezes completely: nothing is read, answered, relayed or accepted
  any more (connections stay open; new ones never complete their handshake);
- ``joins``: joins get no answer any more (by frame: no ``entered``; by connect: the
  handshake never completes); everything else works;
- ``deliveries``: posts are still read (and confirmed where the dialect confirms) but
  silently relayed to nobody;
- ``one_room``: ``room-1`` freezes as ``freeze`` does, ``room-0`` keeps working;
- ``healthy``: nothing breaks (the twin).

:attr:`Breakage.broke_at` is the wall-clock time it set in, for the early-verdict test.
Each runs in a thread of the test process on 127.0.0.1 and a free port; blocked handlers wake
up and end when the server shuts down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.http11 import Request
from websockets.sync.server import ServerConnection

from tests.roomservers import ConnectRoom, FrameRoom, room_and_user, serving
from tests.uvicorn_thread import serving as uvicorn_serving

__all__ = ["BREAKAGES", "Breakage", "broken_connect_server", "broken_frame_server",
           "broken_socketio_server"]

BREAKAGES = ("freeze", "joins", "deliveries", "one_room", "healthy")
FROZEN_ROOM = "room-1"


@dataclass
class Breakage:
    """What breaks, and when: ``after_s`` seconds after the first completed join."""

    kind: str
    after_s: float = 3.0
    first_connection: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.kind not in BREAKAGES:
            raise ValueError(f"unknown breakage {self.kind!r}; use one of {BREAKAGES}")

    def joined(self) -> None:
        """A join was completed (confirmed to the member): the breakage's clock starts."""
        if self.first_connection is None:
            self.first_connection = time.time()

    @property
    def broke_at(self) -> float | None:
        """When it set in (wall clock); None before the first join or when healthy."""
        if self.first_connection is None or self.kind == "healthy":
            return None
        return self.first_connection + self.after_s

    def broken(self, what: str, room: str | None) -> bool:
        """Whether ``what`` (``join``, ``relay``, ``read``) fails now in ``room``."""
        broke_at = self.broke_at
        if broke_at is None or time.time() < broke_at:
            return False
        if self.kind == "freeze":
            return True
        if self.kind == "one_room":
            return room == FROZEN_ROOM
        if self.kind == "joins":
            return what == "join"
        return self.kind == "deliveries" and what == "relay"

    def hang(self) -> None:
        """Wait forever (until the server shuts down)."""
        self.stop.wait()


class _BrokenFrameRoom(FrameRoom):
    """The join-by-frame dialect, breaking as ``breakage`` says."""

    def __init__(self, breakage: Breakage) -> None:
        super().__init__()
        self.breakage = breakage

    def intercept(self, connection: ServerConnection, request: dict[str, Any],
                  channel: str | None) -> bool:
        if self.breakage.broken("read", request.get("channel", channel)):
            self.breakage.hang()
            return True
        return False

    def admit(self, connection: ServerConnection, request: dict[str, Any]) -> bool:
        return not self.breakage.broken("join", request["channel"])  # else: no answer

    def entered(self, connection: ServerConnection) -> None:
        self.breakage.joined()

    def relays(self, room: str) -> bool:
        return not self.breakage.broken("relay", room)


class _BrokenConnectRoom(ConnectRoom):
    """The join-by-connect dialect, breaking as ``breakage`` says."""

    def __init__(self, breakage: Breakage) -> None:
        super().__init__()
        self.breakage = breakage

    def process_request(self, connection: ServerConnection, request: Request) -> None:
        room, user = room_and_user(request.path)
        if not (room and user):
            return None  # not a member (the harness checking the URL): no join
        if self.breakage.broken("join", room):
            self.breakage.hang()  # the handshake never completes
        return None

    def intercept(self, room: str) -> bool:
        if self.breakage.broken("read", room):
            self.breakage.hang()
            return True
        return False

    def relays(self, room: str) -> bool:
        return not self.breakage.broken("relay", room)

    def __call__(self, connection: ServerConnection) -> None:
        room, user = room_and_user(connection.request.path if connection.request else "")
        if room and user:  # the handshake is complete: the member has joined
            self.breakage.joined()
        super().__call__(connection)


@contextlib.contextmanager
def broken_frame_server(breakage: Breakage) -> Iterator[str]:
    """The join-by-frame dialect; yields its URL (``ws://127.0.0.1:PORT/rooms``)."""
    with serving(_BrokenFrameRoom(breakage), "/rooms", on_stop=breakage.stop.set) as url:
        yield url


@contextlib.contextmanager
def broken_connect_server(breakage: Breakage) -> Iterator[str]:
    """The join-by-connect dialect; yields its base URL (``ws://127.0.0.1:PORT``)."""
    room = _BrokenConnectRoom(breakage)
    with serving(room, process_request=room.process_request,
                 on_stop=breakage.stop.set) as url:
        yield url


@contextlib.contextmanager
def broken_socketio_server(breakage: Breakage) -> Iterator[str]:
    """targets/socketio_room in fixed mode, breaking as ``breakage`` says (a frozen handler
    never answers; the Engine.IO pings still do, as in a room whose lock is stuck); yields
    ``ws://127.0.0.1:PORT``."""
    import asyncio

    import lockwatch
    from targets.socketio_room.server import RoomApp

    class BrokenRoomApp(RoomApp):
        async def hang(self) -> None:
            while not breakage.stop.is_set():
                await asyncio.sleep(0.2)

        async def join(self, sid: str, data: Any) -> dict[str, Any]:
            room = data.get("room") if isinstance(data, dict) else None
            if breakage.broken("read", room) or breakage.broken("join", room):
                await self.hang()
            answer = await super().join(sid, data)
            breakage.joined()  # answered: the clock starts at a completed join
            return answer

        async def leave(self, sid: str, data: Any) -> dict[str, Any]:
            if breakage.broken("read", data.get("room") if isinstance(data, dict) else None):
                await self.hang()
            return await super().leave(sid, data)

        async def broadcast(self, sid: str, data: Any) -> dict[str, Any]:
            room = data.get("room") if isinstance(data, dict) else None
            if breakage.broken("read", room):
                await self.hang()
            if breakage.broken("relay", room):
                return {"room": room, "id": data.get("id"), "recipients": 0}
            return await super().broadcast(sid, data)

    app = BrokenRoomApp("fixed", 10.0, lockwatch.MemorySink())
    with uvicorn_serving(app.asgi) as port:
        try:
            yield f"ws://127.0.0.1:{port}"
        finally:
            breakage.stop.set()  # wake hung handlers first, or the server waits on them
