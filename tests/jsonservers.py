"""Two small JSON-over-WebSocket room servers that do not speak docs/wire-protocol.md.

They stand in for "your own service" in the json protocol's acceptance tests;
neither asks for acknowledgements, and their field names differ from each
other's and from docs/wire-protocol.md's:

- :func:`connect_server` joins by connecting (``/chat?room=R&user=U``) and
  leaves by closing; it confirms nothing and its messages carry no send time
  (``{"event": "chat", "from": U, "text": T, "ref": ID}``), so the harness
  times deliveries with its own clock;
- :func:`frame_server` joins and leaves by frames (``{"action": "enter",
  "channel": R, "nick": U}`` answered ``{"kind": "entered", ...}``, ``"exit"``
  answered ``{"kind": "exited"}``) and relays posts as ``{"kind": "posted",
  "by": U, "msg": {...}}`` with the sender's nested ``msg`` (id and time
  included). With ``garbage`` it also sends every member one frame that is not
  JSON right after it entered; with ``broken_header`` the header of a frame whose 64-bit
  length has its high bit set (as two interleaved writes can produce), which breaks the
  WebSocket connection itself.

Both run in a thread of the test process on 127.0.0.1 and a free port; their room logic is
tests/roomservers.py's, which they share with the other JSON test servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from websockets.sync.server import ServerConnection

from tests.roomservers import ConnectRoom, FrameRoom, serving

__all__ = ["connect_server", "frame_server"]


@contextlib.contextmanager
def connect_server() -> Iterator[str]:
    """The join-by-connect server; yields its base URL (``ws://127.0.0.1:PORT``)."""
    with serving(ConnectRoom()) as url:
        yield url


class _GarbageRoom(FrameRoom):
    """Sends every member one frame that is not JSON right after its ``entered``."""

    def entered(self, connection: ServerConnection) -> None:
        connection.send("this is not JSON {")


class _BrokenHeaderRoom(FrameRoom):
    """Writes a frame header claiming 2**63 bytes right after each ``entered``."""

    def entered(self, connection: ServerConnection) -> None:
        connection.socket.sendall(b"\x81\x7f" + (1 << 63).to_bytes(8, "big"))


@contextlib.contextmanager
def frame_server(garbage: bool = False, broken_header: bool = False) -> Iterator[str]:
    """The join-by-frame server; yields its URL (``ws://127.0.0.1:PORT/rooms``)."""
    room = _GarbageRoom() if garbage else _BrokenHeaderRoom() if broken_header else FrameRoom()
    with serving(room, "/rooms") as url:
        yield url
