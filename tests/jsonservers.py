"""Two small JSON-over-WebSocket room servers that do not speak docs/protocol.md.

They stand in for "your own service" in the json protocol's acceptance tests;
neither asks for acknowledgements, and their field names differ from each
other's and from docs/protocol.md's:

- :func:`connect_server` joins by connecting (``/chat?room=R&user=U``) and
  leaves by closing; it confirms nothing and its messages carry no send time
  (``{"event": "chat", "from": U, "text": T, "ref": ID}``), so the harness
  times deliveries with its own clock;
- :func:`frame_server` joins and leaves by frames (``{"action": "enter",
  "channel": R, "nick": U}`` answered ``{"kind": "entered", ...}``, ``"exit"``
  answered ``{"kind": "exited"}``) and relays posts as ``{"kind": "posted",
  "by": U, "msg": {...}}`` with the sender's nested ``msg`` (id and time
  included). With ``garbage`` it also sends every member one frame that is not
  JSON right after it entered.

Both run in a thread of the test process on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["connect_server", "frame_server"]

Rooms = dict[str, dict[ServerConnection, str]]


def _relay(rooms: Rooms, lock: threading.Lock, room: str, sender: ServerConnection,
           frame: dict[str, object]) -> None:
    with lock:
        others = [member for member in rooms.get(room, {}) if member is not sender]
    text = json.dumps(frame)
    for member in others:
        with contextlib.suppress(ConnectionClosed):
            member.send(text)


@contextlib.contextmanager
def _running(handler: Callable[[ServerConnection], None]) -> Iterator[str]:
    """Serve ``handler`` in a thread; yield ``ws://127.0.0.1:PORT``."""
    with serve(handler, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{_port(server)}"
        finally:
            server.shutdown()
            thread.join(10)


def _port(server: Server) -> int:
    return int(server.socket.getsockname()[1])


@contextlib.contextmanager
def connect_server() -> Iterator[str]:
    """The join-by-connect server; yields its base URL (``ws://127.0.0.1:PORT``)."""
    rooms: Rooms = {}
    lock = threading.Lock()

    def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        room, user = query["room"][0], query["user"][0]
        with lock:
            rooms.setdefault(room, {})[connection] = user
        try:
            for raw in connection:
                said = json.loads(raw)
                _relay(rooms, lock, room, connection,
                       {"event": "chat", "from": user, "text": said["say"], "ref": said["ref"]})
        except ConnectionClosed:
            pass
        finally:
            with lock:
                rooms[room].pop(connection, None)

    with _running(handler) as url:
        yield url


@contextlib.contextmanager
def frame_server(garbage: bool = False) -> Iterator[str]:
    """The join-by-frame server; yields its URL (``ws://127.0.0.1:PORT/rooms``)."""
    rooms: Rooms = {}
    lock = threading.Lock()

    def handler(connection: ServerConnection) -> None:
        channel: str | None = None
        try:
            for raw in connection:
                request = json.loads(raw)
                action = request["action"]
                if action == "enter":
                    channel = request["channel"]
                    with lock:
                        rooms.setdefault(channel, {})[connection] = request["nick"]
                    connection.send(json.dumps({"kind": "entered", "channel": channel}))
                    if garbage:
                        connection.send("this is not JSON {")
                elif action == "exit" and channel is not None:
                    with lock:
                        rooms[channel].pop(connection, None)
                    connection.send(json.dumps({"kind": "exited"}))
                    channel = None
                elif action == "post" and channel is not None:
                    _relay(rooms, lock, channel, connection,
                           {"kind": "posted", "by": rooms[channel][connection],
                            "msg": request["msg"]})
        except ConnectionClosed:
            pass
        finally:
            if channel is not None:
                with lock:
                    rooms[channel].pop(connection, None)

    with _running(handler) as url:
        yield url + "/rooms"
