"""What the JSON test servers share: the serve-in-a-thread runner and the two room dialects.

- :func:`serving` runs a websockets sync server on 127.0.0.1 and a free port in a thread
  of the test process and yields its URL; on the way out it stops the server.
- :class:`FrameRoom` is the join-by-frame dialect (``{"action": "enter", "channel": R,
  "nick": U}`` answered ``{"kind": "entered", "channel": R}``, ``exit`` answered
  ``{"kind": "exited"}``, ``post`` relayed to the room's other members as ``{"kind":
  "posted", "by": U, "msg": {...}}``); :class:`ConnectRoom` the join-by-connect one
  (``/chat?room=R&user=U`` joins, closing leaves, ``{"say": T, "ref": ID}`` relayed as
  ``{"event": "chat", "from": U, "text": T, "ref": ID}``).

Both copy the member list under their lock and send outside it (the healthy shape); the
servers of tests/jsonservers.py, tests/brokenservers.py, tests/refusingservers.py and
tests/originserver.py override their small hooks for whatever each one breaks.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

__all__ = ["ConnectRoom", "FrameRoom", "serving"]

Handler = Callable[[ServerConnection], None]
RequestHook = Callable[[ServerConnection, Request], Response | None]


@contextlib.contextmanager
def serving(handler: Handler, path: str = "", process_request: RequestHook | None = None,
            on_stop: Callable[[], None] | None = None) -> Iterator[str]:
    """Serve ``handler`` in a thread; yield ``ws://127.0.0.1:PORT`` + ``path``.

    ``on_stop`` runs before the server shuts down, so handlers blocked on purpose can wake
    up and end (shutdown waits for them).
    """
    with serve(handler, "127.0.0.1", 0, compression=None,
               process_request=process_request) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}{path}"
        finally:
            if on_stop is not None:
                on_stop()
            server.shutdown()
            thread.join(10)


class _Rooms:
    """Each room's members (connection -> name) and the lock that guards them."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[ServerConnection, str]] = {}
        self.lock = threading.Lock()

    def add(self, room: str, connection: ServerConnection, name: str) -> None:
        with self.lock:
            self.rooms.setdefault(room, {})[connection] = name

    def remove(self, room: str, connection: ServerConnection) -> None:
        with self.lock:
            self.rooms.get(room, {}).pop(connection, None)

    def name(self, room: str, connection: ServerConnection) -> str | None:
        with self.lock:
            return self.rooms.get(room, {}).get(connection)

    def relays(self, room: str) -> bool:
        """Hook: whether a post in ``room`` reaches its members now (default: always)."""
        return True

    def relay(self, room: str, sender: ServerConnection, frame: dict[str, Any]) -> None:
        """Send ``frame`` to the room's members but ``sender``, holding no lock while sending."""
        if not self.relays(room):
            return
        with self.lock:
            others = [member for member in self.rooms.get(room, {}) if member is not sender]
        text = json.dumps(frame)
        for member in others:
            with contextlib.suppress(ConnectionClosed):
                member.send(text)


class FrameRoom(_Rooms):
    """The join-by-frame dialect; an instance is the websockets handler."""

    def intercept(self, connection: ServerConnection, request: dict[str, Any],
                  channel: str | None) -> bool:
        """Hook, before each frame is handled: True ends the connection's handler."""
        return False

    def admit(self, connection: ServerConnection, request: dict[str, Any]) -> bool:
        """Hook, on ``enter``: False leaves the join unanswered and the member outside."""
        return True

    def entered(self, connection: ServerConnection) -> None:
        """Hook, after ``entered`` was sent."""

    def __call__(self, connection: ServerConnection) -> None:
        channel: str | None = None
        try:
            for raw in connection:
                request = json.loads(raw)
                action = request["action"]
                if self.intercept(connection, request, channel):
                    return
                if action == "enter":
                    if not self.admit(connection, request):
                        continue
                    channel = request["channel"]
                    self.add(channel, connection, request["nick"])
                    connection.send(json.dumps({"kind": "entered", "channel": channel}))
                    self.entered(connection)
                elif action == "exit" and channel is not None:
                    self.remove(channel, connection)
                    connection.send(json.dumps({"kind": "exited"}))
                    channel = None
                elif action == "post" and channel is not None:
                    self.relay(channel, connection, {"kind": "posted",
                                                     "by": self.name(channel, connection),
                                                     "msg": request["msg"]})
        except ConnectionClosed:
            pass
        finally:
            if channel is not None:
                self.remove(channel, connection)


def room_and_user(path: str) -> tuple[str, str]:
    """``room`` and ``user`` of a join-by-connect path (``""`` for a missing one)."""
    query = parse_qs(urlsplit(path).query)
    return query.get("room", [""])[0], query.get("user", [""])[0]


class ConnectRoom(_Rooms):
    """The join-by-connect dialect; an instance is the websockets handler."""

    def intercept(self, room: str) -> bool:
        """Hook, before each frame is read: True ends the connection's handler."""
        return False

    def __call__(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        room, user = room_and_user(connection.request.path)
        self.add(room, connection, user)
        try:
            for raw in connection:
                if self.intercept(room):
                    return
                said = json.loads(raw)
                self.relay(room, connection, {"event": "chat", "from": user,
                                              "text": said["say"], "ref": said["ref"]})
        except ConnectionClosed:
            pass
        finally:
            self.remove(room, connection)
