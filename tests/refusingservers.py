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
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from tests.roomservers import FrameRoom, room_and_user, serving

__all__ = ["PROBE_ROOM", "forbidding_server", "frame_room_server"]

#: The room the harness's probe opens before a run (harness.rig.rig).
PROBE_ROOM = "harness-probe"


@contextlib.contextmanager
def forbidding_server() -> Iterator[str]:
    """Every join (an upgrade to ``/chat?room=R&user=U``) gets HTTP 403; the probe gets in."""

    def refuse(connection: ServerConnection, request: Request) -> Response | None:
        room, _ = room_and_user(request.path)
        if room == PROBE_ROOM:
            return None
        return connection.respond(HTTPStatus.FORBIDDEN, "this room needs a permission\n")

    def handler(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            for _ in connection:
                pass

    with serving(handler, process_request=refuse) as url:
        yield url


class _RefusingFrameRoom(FrameRoom):
    """Closes each connection on its join frame with ``close_code``, or confirms each join
    only after ``join_delay_s``."""

    def __init__(self, close_code: int | None, join_delay_s: float) -> None:
        super().__init__()
        self.close_code = close_code
        self.join_delay_s = join_delay_s

    def intercept(self, connection: ServerConnection, request: dict[str, Any],
                  channel: str | None) -> bool:
        if request["action"] == "enter" and self.close_code is not None:
            connection.close(self.close_code, "join refused")
            return True
        return False

    def admit(self, connection: ServerConnection, request: dict[str, Any]) -> bool:
        time.sleep(self.join_delay_s)
        return True


@contextlib.contextmanager
def frame_room_server(close_code: int | None = None, join_delay_s: float = 0.0
                      ) -> Iterator[str]:
    """A join-by-frame room (``FRAME_PROTOCOL``); yields ``ws://127.0.0.1:PORT/rooms``."""
    with serving(_RefusingFrameRoom(close_code, join_delay_s), "/rooms") as url:
        yield url
