"""A member's record of how its connections ended stays bounded over many reconnects.

Members that join by connecting reconnect every cycle; each connection's ending is recorded
by the receive loop, yet only the latest is kept, plus a stall watch's own connection's,
which the watch can read after later connections ended. Real connections to a loopback
server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import websocket
from websockets.sync.server import ServerConnection

from harness.loadgen.endings import ConnectionEndings
from tests.roomservers import serving

CONNECTS = 200


def _close_at_once(connection: ServerConnection) -> None:
    connection.close(code=4000, reason="bye")


@pytest.fixture
def server_url() -> Iterator[str]:
    with serving(_close_at_once) as url:
        yield url + "/"


def _read_the_close(ws: websocket.WebSocket) -> int:
    """Read the server's close frame, answer it, close the socket; the close code."""
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    ws.send_close()
    ws.shutdown()
    return int.from_bytes(data[:2], "big")


def _connect_and_end(url: str, endings: ConnectionEndings) -> websocket.WebSocket:
    """One connection the server closes, its ending recorded as the receive loop does."""
    ws = websocket.create_connection(url, timeout=5)
    endings.record(ws, _read_the_close(ws), "closed by server")
    return ws


def test_endings_stay_bounded_over_many_reconnects(server_url: str) -> None:
    endings = ConnectionEndings()
    largest = 0
    for _ in range(CONNECTS):
        _connect_and_end(server_url, endings)
        largest = max(largest, len(endings))
    assert largest == 1, largest  # the latest ending only, whatever the number of connections


def test_a_watched_connection_keeps_its_ending_across_reconnects(server_url: str) -> None:
    endings = ConnectionEndings()
    ws = websocket.create_connection(server_url, timeout=5)
    watched = endings.watch(ws)  # the watch begins while the connection is open
    assert watched.get() is None
    endings.record(ws, _read_the_close(ws), "closed by server")
    endings.record(ws, None, "a later error")  # the first record of a connection stays
    for _ in range(20):
        _connect_and_end(server_url, endings)
    assert watched.get() == (4000, "closed by server")
    assert len(endings) == 1


def test_a_watch_that_begins_after_its_connection_ended_finds_the_ending(
        server_url: str) -> None:
    endings = ConnectionEndings()
    ws = _connect_and_end(server_url, endings)
    watched = endings.watch(ws)
    _connect_and_end(server_url, endings)
    assert watched.get() == (4000, "closed by server")
