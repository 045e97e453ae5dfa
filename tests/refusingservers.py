"""Small room servers that the harness cannot test, or that are broken from the start.

Each speaks one of tests/jsonservers.py's JSON protocols (``CONNECT_PROTOCOL`` and
``FRAME_PROTOCOL`` in tests/test_protocol_json.py), runs in a thread of the test process on
127.0.0.1 and a free port, and yields its URL:

- :func:`forbidding_server` joins by connecting (``/chat?room=R&user=U``) and answers every
  upgrade with HTTP 403, except the harness's own probe (room ``harness-probe``): a service
  whose rooms need a permission the members do not have;
- :func:`frame_room_server` joins by frame (``enter``/``entered``); with ``close_code`` it
  closes each connection on its join frame with that code (3501, "join refused"), with
  ``join_delay_s`` it confirms each join only after that long (slow from the first join,
  before any fault).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

__all__ = ["PROBE_ROOM", "forbidding_server", "frame_room_server"]

#: The room the harness's probe opens before a run (harness.rig).
PROBE_ROOM = "harness-probe"


Handler = Callable[[ServerConnection], None]
RequestHook = Callable[[ServerConnection, Request], Response | None]


@contextlib.contextmanager
def _serving(handler: Handler, process_request: RequestHook | None = None) -> Iterator[str]:
    """Serve ``handler`` in a thread; yield ``ws://127.0.0.1:PORT``."""
    with serve(handler, "127.0.0.1", 0, compression=None,
               process_request=process_request) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(10)


@contextlib.contextmanager
def forbidding_server() -> Iterator[str]:
    """Every join (an upgrade to ``/chat?room=R&user=U``) gets HTTP 403; the probe gets in."""

    def refuse(connection: ServerConnection, request: Request) -> Response | None:
        room = parse_qs(urlsplit(request.path).query).get("room", [""])[0]
        if room == PROBE_ROOM:
            return None
        return connection.respond(HTTPStatus.FORBIDDEN, "this room needs a permission\n")

    def handler(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            for _ in connection:
                pass

    with _serving(handler, process_request=refuse) as url:
        yield url


@contextlib.contextmanager
def frame_room_server(close_code: int | None = None, join_delay_s: float = 0.0
                      ) -> Iterator[str]:
    """A join-by-frame room (``FRAME_PROTOCOL``); yields ``ws://127.0.0.1:PORT/rooms``."""
    rooms: dict[str, dict[ServerConnection, str]] = {}
    lock = threading.Lock()

    def relay(channel: str, sender: ServerConnection, frame: dict[str, object]) -> None:
        with lock:
            others = [member for member in rooms.get(channel, {}) if member is not sender]
        text = json.dumps(frame)
        for member in others:
            with contextlib.suppress(ConnectionClosed):
                member.send(text)

    def handler(connection: ServerConnection) -> None:
        channel: str | None = None
        try:
            for raw in connection:
                request = json.loads(raw)
                action = request["action"]
                if action == "enter" and close_code is not None:
                    connection.close(close_code, "join refused")
                    return
                if action == "enter":
                    time.sleep(join_delay_s)
                    channel = request["channel"]
                    with lock:
                        rooms.setdefault(channel, {})[connection] = request["nick"]
                    connection.send(json.dumps({"kind": "entered", "channel": channel}))
                elif action == "exit" and channel is not None:
                    with lock:
                        rooms[channel].pop(connection, None)
                    connection.send(json.dumps({"kind": "exited"}))
                    channel = None
                elif action == "post" and channel is not None:
                    with lock:
                        nick = rooms[channel][connection]
                    relay(channel, connection, {"kind": "posted", "by": nick,
                                                "msg": request["msg"]})
        except ConnectionClosed:
            pass
        finally:
            if channel is not None:
                with lock:
                    rooms[channel].pop(connection, None)

    with _serving(handler) as url:
        yield url + "/rooms"
