"""Room servers in the shapes of widely used ones nobody here wrote, each with a broken twin.

Each runs in threads of the test process on 127.0.0.1 and a free port (websockets' sync
server), and speaks its own protocol, not docs/wire-protocol.md:

- :func:`messaging_server`, a JSON messaging server in the shape of Centrifugo's protocol:
  a client sends ``{"id": N, "connect": {...}}`` before anything else (otherwise it is closed
  with ``3501 bad request``); commands carry an ``id`` and get a reply with that id
  (``subscribe``, ``unsubscribe``, ``publish``; an ``error`` reply for a publish to a channel
  the client is not in); publications are pushed to every subscriber, the publisher
  included, as ``{"push": {"channel": C, "pub": {"data": D}}}``; the server pings with
  ``{}`` and closes a client that has not answered ``{}`` within ``pong_timeout`` s
  (``3012 no pong``); up to 16 queued replies, pushes and pings leave in one frame,
  newline-separated.
- :func:`hub_server`, the classic Go chat hub: a client joins by connecting to ``/ws`` and
  leaves by closing; every text it sends goes, as it is, to every client (the sender
  included); each client's writer joins the messages queued for it with newlines into one
  frame; with ``check_origin``, a handshake whose ``Origin`` host:port differs from its
  ``Host`` gets 403, as gorilla/websocket's default check does.
- :func:`binary_server`, a protocol of binary frames of length-prefixed records that no
  built-in kind speaks (see :data:`BINARY_PROTOCOL`), for a user's own class.

The healthy servers hand each send to the member's own writer thread (a queue); with
``broken``, each holds its one lock across the blocking sends of a broadcast (websockets'
sync ``send`` blocks while the member's socket is full), so one stalled member holds up every
join (messaging, binary) or every broadcast (hub) in the server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from tests.roomservers import serving

__all__ = ["BINARY_PROTOCOL", "binary_record", "binary_records", "binary_server", "hub_server",
           "messaging_server"]

#: The most messages one frame carries (Centrifugo's and the Go hub's writers batch).
BATCH = 16

class _Writers:
    """Each connection's outgoing queue and writer thread; ``join`` batches with it.

    ``put`` never blocks: a stalled member's queue grows, nobody else waits.
    """

    def __init__(self, join: Callable[[list[Any]], str | bytes]) -> None:
        self._join = join
        self._queues: dict[ServerConnection, queue.SimpleQueue[Any]] = {}
        self._lock = threading.Lock()

    def start(self, connection: ServerConnection) -> None:
        outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        with self._lock:
            self._queues[connection] = outgoing
        threading.Thread(target=self._write, args=(connection, outgoing), daemon=True).start()

    def stop(self, connection: ServerConnection) -> None:
        with self._lock:
            outgoing = self._queues.pop(connection, None)
        if outgoing is not None:
            outgoing.put(None)

    def put(self, connection: ServerConnection, item: Any) -> None:
        with self._lock:
            outgoing = self._queues.get(connection)
        if outgoing is not None:
            outgoing.put(item)

    def _write(self, connection: ServerConnection, outgoing: queue.SimpleQueue[Any]) -> None:
        while (item := outgoing.get()) is not None:
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < BATCH:
                    following = outgoing.get_nowait()
                    if following is None:
                        outgoing.put(None)
                        break
                    batch.append(following)
            try:
                connection.send(self._join(batch))
            except ConnectionClosed:
                return


def _direct(connection: ServerConnection, frame: str | bytes) -> None:
    with contextlib.suppress(ConnectionClosed):
        connection.send(frame)


# The messaging server.

class _Client:
    """One connection of the messaging server: its name, channels and last pong."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.name: str | None = None
        self.channels: set[str] = set()
        self.pong_at = time.monotonic()
        self.pings_answered = 0


@contextlib.contextmanager
def messaging_server(broken: bool = False, ping_interval: float = 0.5,
                     pong_timeout: float = 5.0,
                     stats: dict[str, int] | None = None) -> Iterator[str]:
    """The JSON messaging server; yields ``ws://127.0.0.1:PORT/connection/websocket``.

    ``stats`` (if given) counts ``pongs`` (pings answered), ``no_pong`` (clients closed
    for not answering) and ``batched`` (frames that carried more than one message).
    """
    counts = stats if stats is not None else {}
    for key in ("pongs", "no_pong", "batched"):
        counts.setdefault(key, 0)
    channels: dict[str, set[_Client]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def join(batch: list[Any]) -> str:
        if len(batch) > 1:
            counts["batched"] += 1
        return "\n".join(json.dumps(item) for item in batch)

    writers = _Writers(join)

    def send(client: _Client, item: dict[str, Any]) -> None:
        if broken:
            _direct(client.connection, json.dumps(item))  # the caller may hold the lock
        else:
            writers.put(client.connection, item)

    def pinger(client: _Client) -> None:
        while not stop.wait(ping_interval):
            if client.connection.state.name != "OPEN":
                return
            if time.monotonic() - client.pong_at > pong_timeout:
                counts["no_pong"] += 1
                client.connection.close(3012, "no pong")
                return
            send(client, {})

    def command(client: _Client, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": request.get("id")}
        membership = next((name for name in ("subscribe", "unsubscribe") if name in request),
                          None)
        if membership is not None:
            channel = request[membership]["channel"]
            change = set.add if membership == "subscribe" else set.discard
            with lock:  # the reply leaves in order with the channel's pushes (they hold it)
                change(channels.setdefault(channel, set()), client)
                change(client.channels, channel)
                reply[membership] = {}
                send(client, reply)
        elif "publish" in request:
            channel = request["publish"]["channel"]
            if channel not in client.channels:
                reply["error"] = {"code": 103, "message": "permission denied"}
                send(client, reply)
                return
            push = {"push": {"channel": channel, "pub": {"data": request["publish"]["data"]}}}
            with lock:  # broken: the lock is held across every subscriber's send
                for member in list(channels.get(channel, ())):
                    send(member, push)
            reply["publish"] = {}
            send(client, reply)
        else:
            reply["error"] = {"code": 107, "message": "bad request"}
            send(client, reply)

    def handler(connection: ServerConnection) -> None:
        client = _Client(connection)
        writers.start(connection)
        try:
            for raw in connection:
                for line in str(raw).split("\n"):
                    request = json.loads(line)
                    if request == {}:
                        client.pong_at = time.monotonic()
                        counts["pongs"] += 1
                    elif client.name is None:
                        if "connect" not in request:
                            connection.close(3501, "bad request")
                            return
                        client.name = str(request["connect"].get("name", "anonymous"))
                        send(client, {"id": request.get("id"), "connect": {
                            "client": f"c{id(client)}", "ping": ping_interval, "pong": True}})
                        threading.Thread(target=pinger, args=(client,), daemon=True).start()
                    else:
                        command(client, request)
        except ConnectionClosed:
            pass
        finally:
            with lock:
                for channel in client.channels:
                    channels.get(channel, set()).discard(client)
            writers.stop(connection)

    with serving(handler, "/connection/websocket", on_stop=stop.set) as url:
        yield url


# The Go chat hub.

def _same_origin(connection: ServerConnection, request: Request) -> Response | None:
    """gorilla/websocket's default CheckOrigin: no Origin, or Origin's host:port == Host."""
    origin = request.headers.get("Origin")
    if origin is None or urlsplit(origin).netloc.lower() == request.headers.get(
            "Host", "").lower():
        return None
    return connection.respond(403, "Forbidden\n")


@contextlib.contextmanager
def hub_server(broken: bool = False, check_origin: bool = False) -> Iterator[str]:
    """The Go-style chat hub; yields ``ws://127.0.0.1:PORT/ws``.

    Args:
        broken: broadcast holds the hub's lock across every client's (blocking) send.
        check_origin: refuse a handshake whose Origin is not the Host (403).
    """
    clients: set[ServerConnection] = set()
    lock = threading.Lock()
    writers = _Writers(lambda batch: "\n".join(batch))

    def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        if urlsplit(connection.request.path).path != "/ws":
            connection.close(1008, "not found")
            return
        writers.start(connection)
        with lock:
            clients.add(connection)
        try:
            for message in connection:
                with lock:
                    if broken:
                        for client in list(clients):
                            _direct(client, message)
                        continue
                    for client in clients:
                        writers.put(client, message)
        except ConnectionClosed:
            pass
        finally:
            with lock:
                clients.discard(connection)
            writers.stop(connection)

    with serving(handler, "/ws", _same_origin if check_origin else None) as url:
        yield url


# A binary protocol no built-in kind speaks.

#: The binary protocol, as a user would find it in the server's own documentation.
BINARY_PROTOCOL = """
Every frame is binary and carries one or more records, back to back. A record is
one type byte, a 2-byte big-endian length, and that many bytes of payload. A
payload's fields are UTF-8 text separated by the byte 0x1f.
client -> server: H hello (member)      J join (room)        L leave
                  B broadcast (message id, send time as text, body)
                  Q pong (the ping's number)
server -> client: h hello done          j joined             l left
                  m message (sender, message id, send time, body)
                  P ping (a number)     e error (text)
The hello must come first on each connection. The server batches: one frame may hold
up to 16 records.
"""

_SEPARATOR = b"\x1f"


def binary_record(kind: bytes, *fields: str) -> bytes:
    """One record of :data:`BINARY_PROTOCOL`."""
    payload = _SEPARATOR.join(field.encode() for field in fields)
    return kind + struct.pack("!H", len(payload)) + payload


def binary_records(frame: bytes) -> list[tuple[bytes, list[str]]]:
    """The records of one frame, as (type, fields); raises ValueError if it is cut short."""
    records = []
    offset = 0
    while offset < len(frame):
        if offset + 3 > len(frame):
            raise ValueError("a record header cut short")
        kind = frame[offset:offset + 1]
        (length,) = struct.unpack("!H", frame[offset + 1:offset + 3])
        payload = frame[offset + 3:offset + 3 + length]
        if len(payload) != length:
            raise ValueError("a record cut short")
        records.append((kind, [part.decode() for part in payload.split(_SEPARATOR)]
                        if payload else []))
        offset += 3 + length
    return records


@contextlib.contextmanager
def binary_server(broken: bool = False, ping_interval: float = 0.5,
                  stats: dict[str, int] | None = None) -> Iterator[str]:
    """The binary server; yields ``ws://127.0.0.1:PORT/bin``. ``stats`` counts ``pongs``."""
    counts = stats if stats is not None else {}
    counts.setdefault("pongs", 0)
    rooms: dict[str, set[ServerConnection]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    writers = _Writers(lambda batch: b"".join(batch))
    numbers = itertools.count(1)

    def send(connection: ServerConnection, record: bytes) -> None:
        if broken:
            _direct(connection, record)
        else:
            writers.put(connection, record)

    def pinger(connection: ServerConnection) -> None:
        while not stop.wait(ping_interval) and connection.state.name == "OPEN":
            send(connection, binary_record(b"P", str(next(numbers))))

    def handler(connection: ServerConnection) -> None:
        writers.start(connection)
        member: str | None = None
        room: str | None = None
        try:
            for frame in connection:
                if not isinstance(frame, bytes):
                    send(connection, binary_record(b"e", "text frames are not spoken here"))
                    continue
                for kind, fields in binary_records(frame):
                    if kind == b"Q":
                        counts["pongs"] += 1
                    elif member is None:
                        if kind != b"H" or not fields:
                            connection.close(1008, "hello first")
                            return
                        member = fields[0]
                        send(connection, binary_record(b"h"))
                        threading.Thread(target=pinger, args=(connection,), daemon=True).start()
                    elif kind == b"J" and fields:
                        room = fields[0]
                        with lock:
                            rooms.setdefault(room, set()).add(connection)
                            send(connection, binary_record(b"j", room))
                    elif kind == b"L" and room is not None:
                        with lock:
                            rooms[room].discard(connection)
                        room = None
                        send(connection, binary_record(b"l"))
                    elif kind == b"B" and room is not None and len(fields) == 3:
                        message = binary_record(b"m", member, *fields)
                        with lock:  # broken: held across every member's send
                            for other in list(rooms[room]):
                                if other is not connection:
                                    send(other, message)
                    else:
                        send(connection, binary_record(b"e", f"unexpected {kind!r}"))
        except ConnectionClosed:
            pass
        finally:
            if room is not None:
                with lock:
                    rooms[room].discard(connection)
            writers.stop(connection)

    with serving(handler, "/bin", on_stop=stop.set) as url:
        yield url
