"""Small servers the benchmarks compare against: ``python -m harness.bench.servers --kind KIND``.

* ``broadcast``: the fan-out ceiling. Every connection that joins is in one
  room; a ``broadcast`` goes out with :func:`websockets.asyncio.server.broadcast`,
  one frame written to every other member without waiting and without acks
  (an ``ack`` is read and ignored). The sender gets ``broadcasted`` as from the
  reference server.
* ``echo``: a fast target for the load generator. Each connection is its own
  room: ``broadcast`` is answered with a ``message`` frame (which the client
  acknowledges) and then ``broadcasted``; ``join`` and ``leave`` get their
  replies. Nothing is shared, nothing waits.

Both speak the frames of docs/wire-protocol.md, listen on loopback, print
``bench server (KIND) listening on ws://HOST:PORT/ws`` once ready, answer
``GET /count`` with JSON counters (``broadcasts``, ``acks``, ``delivered``) and
stop on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import http
import json
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from harness.bench.cli import child_parser

__all__ = ["KINDS", "main"]

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class _Counters:
    def __init__(self) -> None:
        self.broadcasts = 0
        self.acks = 0
        self.delivered = 0  # message frames written

    def to_json(self) -> str:
        return json.dumps({"broadcasts": self.broadcasts, "acks": self.acks,
                           "delivered": self.delivered, "time": time.time()})


def _message(room: str, frame: dict[str, Any], sender: str, seq: int) -> str:
    return _dumps({"type": "message", "room": room, "id": frame.get("id"), "from": sender,
                   "body": frame.get("body"), "sent_at": frame.get("sent_at"), "seq": seq})


Handler = Callable[[ServerConnection], Coroutine[Any, Any, None]]


class _Room:
    """The frame loop both kinds share; a kind says what a broadcast does and what joins see.

    Acks and broadcasts are counted here; ``names`` holds each joined member's name.
    """

    def __init__(self, counters: _Counters) -> None:
        self.counters = counters
        self.names: dict[ServerConnection, str] = {}

    async def handle(self, ws: ServerConnection) -> None:
        counters = self.counters
        seq = 0
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    counters.acks += 1
                elif kind == "broadcast":
                    counters.broadcasts += 1
                    seq += 1
                    recipients = await self.deliver(ws, frame, seq)
                    counters.delivered += recipients
                    await ws.send(_dumps({"type": "broadcasted", "room": frame["room"],
                                          "id": frame.get("id"), "recipients": recipients}))
                elif kind == "join":
                    self.names[ws] = frame["member"]
                    await ws.send(_dumps({"type": "joined", "room": frame["room"],
                                          "member": frame["member"], "members": self.size()}))
                elif kind == "leave":
                    self.left(ws)
                    await ws.send(_dumps({"type": "left", "room": frame["room"]}))
        except ConnectionClosed:
            pass
        finally:
            self.names.pop(ws, None)

    async def deliver(self, ws: ServerConnection, frame: dict[str, Any], seq: int) -> int:
        """Send the ``message`` frames of ``ws``'s broadcast; return how many were written."""
        raise NotImplementedError

    def size(self) -> int:
        """The member count a ``joined`` frame reports."""
        raise NotImplementedError

    def left(self, ws: ServerConnection) -> None:
        """``ws`` sent ``leave``: it is out of the room."""
        self.names.pop(ws, None)


class _BroadcastRoom(_Room):
    """Every connection in one room; one encoding for everybody, written without waiting."""

    async def deliver(self, ws: ServerConnection, frame: dict[str, Any], seq: int) -> int:
        others = [member for member in self.names if member is not ws]
        # One encoding for everybody: the point of websockets.broadcast.
        broadcast(others, _message(frame["room"], frame, self.names.get(ws, "?"), seq))
        return len(others)

    def size(self) -> int:
        return len(self.names)


class _EchoRoom(_Room):
    """Each connection its own room: a broadcast comes back to its sender."""

    async def deliver(self, ws: ServerConnection, frame: dict[str, Any], seq: int) -> int:
        await ws.send(_message(frame["room"], frame, self.names.get(ws, "?"), seq))
        return 1

    def size(self) -> int:
        return 1

    def left(self, ws: ServerConnection) -> None:
        """Nothing to leave; the name stays the sender of later echoes, as before a leave."""


def _broadcast_handler(counters: _Counters) -> Handler:
    return _BroadcastRoom(counters).handle


def _echo_handler(counters: _Counters) -> Handler:
    return _EchoRoom(counters).handle


KINDS = {"broadcast": _broadcast_handler, "echo": _echo_handler}


async def _serve(kind: str, host: str, port: int) -> None:
    counters = _Counters()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None
        if path == "/count":
            return Response(http.HTTPStatus.OK, "OK",
                            Headers([("Content-Type", "application/json")]),
                            counters.to_json().encode())
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path: {path}\n")

    async with serve(KINDS[kind](counters), host, port, process_request=process_request) as server:
        bound = next(iter(server.sockets)).getsockname()
        print(f"bench server ({kind}) listening on ws://{host}:{bound[1]}/ws", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = child_parser("harness.bench.servers", __doc__)
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.kind, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
