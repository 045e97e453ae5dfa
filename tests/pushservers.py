"""Server-push test servers: a dashboard that pushes a heartbeat and HTTP-triggered updates.

Members never broadcast here: the server speaks. One ASGI app on uvicorn serves, on one port:

- ``GET /healthz``: 200 once it listens;
- ``POST /tasks?room=R`` with a JSON body ``{"id": ID, "text": T}``: push ``{"type": "task",
  "id": ID, "room": R, "text": T, "at": SERVER_TIME}`` to every member of room R, answered 202
  (the trigger the harness calls);
- a heartbeat: every ``period`` seconds ``{"type": "tick", "at": SERVER_TIME, "pad": P}`` to
  every member of every room (``pad``: ``--pad`` bytes of random text, so a member that
  stopped reading backs up with real bytes);
- WebSocket ``/ws``: join by frame, ``{"type": "join", "room": R, "member": U}`` answered
  ``{"type": "joined", "room": R}``, ``{"type": "leave"}`` answered ``{"type": "left"}``;
- WebSocket ``/live?room=R&member=U``: join by connecting, leave by closing;
- with ``acked``, every push carries ``"ack": true`` and the server's send to a member waits
  for its ``{"type": "ack", "id": ID}`` (the tick's id is ``tick-N``), at most 10 s.

The server shapes (``mode``):

- ``queued``: the healthy form. Joins, leaves and pushes take the room lock only to read or
  change the member list; each member has its own queue and writer task, so one member that
  stops reading delays nobody else;
- ``locked``: the bug of the issue's reports (a FastAPI manager holding its lock across
  ``send_text`` to every connection): each push holds the lock while it sends to each member
  in turn, so one stalled member (whose send waits on its full socket) freezes the heartbeat,
  the updates and every join; with ``acked``, a member that is only slow does too;
- ``silent``: the healthy form whose pushes stop altogether after ``stop_after`` seconds (a
  publisher task that died): joins and triggers still answer, nothing is pushed.

:func:`push_server` runs it in a thread of the test process (yields its ``ws://`` base URL);
``python -m tests.pushservers --mode locked --port N`` runs it as a process (a run's
``--target-cmd``). :func:`socketio_push_server` is the same dashboard on Socket.IO (the
``tick`` and ``task`` events; a ``join`` event acknowledged with ``{"room": R}``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import socketio
import uvicorn

from tests.uvicorn_thread import serving

# The websockets backend awaits each send's drain, as a server whose send can block does
# (websockets-sansio never blocks, so nothing would ever back up); it is deprecated, not gone.
warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")

__all__ = ["MODES", "Dashboard", "push_server", "socketio_push_server"]

MODES = ("queued", "locked", "silent")
#: The longest a send waits for a member's acknowledgement (``acked``).
ACK_TIMEOUT_S = 10.0

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class _Member:
    """One connection: how to send to it, its queue and writer (``queued``), its acks."""

    def __init__(self, name: str, send: Callable[[str], Awaitable[None]], queued: bool) -> None:
        self.name = name
        self._send = send
        self.acks: dict[str, asyncio.Future[None]] = {}
        self.queue: asyncio.Queue[tuple[str, str | None] | None] | None = None
        self.writer: asyncio.Task[None] | None = None
        if queued:
            self.queue = asyncio.Queue()
            self.writer = asyncio.get_running_loop().create_task(self._write())

    async def deliver(self, text: str, ack_id: str | None) -> None:
        """Send ``text``; with ``ack_id``, wait for the member's acknowledgement of it."""
        waiter = None
        if ack_id is not None:
            waiter = self.acks[ack_id] = asyncio.get_running_loop().create_future()
        try:
            await self._send(text)
            if waiter is not None:
                await asyncio.wait_for(waiter, ACK_TIMEOUT_S)
        except (TimeoutError, OSError, RuntimeError):
            pass  # gone or never acknowledged: the next member's turn
        finally:
            if ack_id is not None:
                self.acks.pop(ack_id, None)

    def acknowledged(self, ack_id: Any) -> None:
        waiter = self.acks.get(str(ack_id))
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _write(self) -> None:
        assert self.queue is not None
        while (item := await self.queue.get()) is not None:
            await self.deliver(*item)

    def close(self) -> None:
        """The member left: what was queued for it before still goes out, then the writer
        ends (a push triggered before the leave is owed to it)."""
        if self.queue is not None:
            self.queue.put_nowait(None)


class Dashboard:
    """The rooms, the lock and the pushes; the transport (plain WebSocket or Socket.IO)
    adds and removes members and calls :meth:`push`."""

    def __init__(self, mode: str = "queued", period_s: float = 1.0, pad: int = 0,
                 acked: bool = False, stop_after_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.period_s = period_s
        self.pad = pad
        self.acked = acked
        self.stop_after_s = stop_after_s
        self.rooms: dict[str, dict[object, _Member]] = {}
        self.lock = asyncio.Lock()
        self.started = time.monotonic()
        self._ticks = itertools.count(1)

    @property
    def silenced(self) -> bool:
        return self.mode == "silent" and time.monotonic() - self.started >= self.stop_after_s

    async def add(self, room: str, key: object, member: _Member) -> None:
        async with self.lock:
            self.rooms.setdefault(room, {})[key] = member

    async def remove(self, room: str, key: object) -> None:
        async with self.lock:
            member = self.rooms.get(room, {}).pop(key, None)
        if member is not None:
            member.close()

    def member(self, send: Callable[[str], Awaitable[None]], name: str) -> _Member:
        return _Member(name, send, queued=self.mode != "locked")

    async def push(self, room: str, frame: dict[str, Any]) -> None:
        """Push ``frame`` to every member of ``room`` as this server's ``mode`` does."""
        if self.silenced:
            return
        ack_id = str(frame["id"]) if self.acked else None
        text = json.dumps({**frame, "ack": True} if self.acked else frame)
        if self.mode == "locked":
            async with self.lock:  # the bug: the member list's lock held across each send
                for member in list(self.rooms.get(room, {}).values()):
                    await member.deliver(text, ack_id)
            return
        async with self.lock:
            members = list(self.rooms.get(room, {}).values())
        for member in members:
            assert member.queue is not None
            member.queue.put_nowait((text, ack_id))

    async def heartbeat(self) -> None:
        """Every ``period``: a tick to every room (each room's push as the mode does it)."""
        next_at = time.monotonic()
        while True:
            next_at += self.period_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            pad = base64.b64encode(os.urandom(self.pad * 3 // 4 + 3)).decode()[:self.pad]
            frame = {"type": "tick", "id": f"tick-{next(self._ticks)}", "pad": pad}
            for room in list(self.rooms):
                await self.push(room, {**frame, "at": time.time()})

    async def task(self, room: str, body: bytes) -> int:
        """``POST /tasks?room=R``: push the update; the HTTP status."""
        try:
            task = json.loads(body)
            frame = {"type": "task", "id": task["id"], "room": room, "text": task.get("text"),
                     "at": time.time()}
        except (ValueError, KeyError, TypeError):
            return 400
        await self.push(room, frame)
        return 202


class PlainApp:
    """The dashboard over plain WebSockets and HTTP, as one ASGI app."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._beat: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if self._beat is None:  # the first request starts the heartbeat, in uvicorn's loop
            self.dashboard.started = time.monotonic()
            self._beat = asyncio.get_running_loop().create_task(self.dashboard.heartbeat())
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        status = 404
        if scope["path"] == "/healthz":
            status = 200
        elif scope["path"] == "/tasks" and scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            room = parse_qs(scope["query_string"].decode()).get("room", [""])[0]
            status = await self.dashboard.task(room, body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(status).encode()})

    async def websocket(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if scope["path"] not in ("/ws", "/live"):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        key = object()
        room: str | None = None
        member: _Member | None = None
        if scope["path"] == "/live":  # joining is connecting
            query = parse_qs(scope["query_string"].decode())
            room = query.get("room", [""])[0]
            member = self.dashboard.member(send_text, query.get("member", [""])[0])
            await self.dashboard.add(room, key, member)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = json.loads(message.get("text") or message.get("bytes") or "{}")
                kind = frame.get("type")
                if kind == "ack" and member is not None:
                    member.acknowledged(frame.get("id"))
                elif kind == "join" and scope["path"] == "/ws" and room is None:
                    room = str(frame.get("room"))
                    member = self.dashboard.member(send_text, str(frame.get("member")))
                    await self.dashboard.add(room, key, member)
                    await send_text(json.dumps({"type": "joined", "room": room}))
                elif kind == "leave" and scope["path"] == "/ws" and room is not None:
                    await self.dashboard.remove(room, key)
                    room = member = None
                    await send_text(json.dumps({"type": "left"}))
        except (ValueError, OSError, RuntimeError):
            return
        finally:
            if room is not None:
                await self.dashboard.remove(room, key)


def _socketio_app(dashboard: Dashboard) -> Any:
    """The dashboard on Socket.IO: ``join`` (acknowledged ``{"room": R}``), ``leave`` by
    disconnecting, pushes as ``tick`` and ``task`` events; HTTP as :class:`PlainApp`'s."""
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    rooms: dict[str, str] = {}

    @sio.on("join")
    async def join(sid: str, data: Any) -> dict[str, Any]:
        room = str(data.get("room")) if isinstance(data, dict) else ""

        async def emit(text: str) -> None:
            frame = json.loads(text)
            await sio.emit(frame["type"], frame, to=sid)

        rooms[sid] = room
        await dashboard.add(room, sid, dashboard.member(emit, sid))
        return {"room": room}

    @sio.on("disconnect")
    async def disconnect(sid: str, *_: Any) -> None:
        room = rooms.pop(sid, None)
        if room is not None:
            await dashboard.remove(room, sid)

    return socketio.ASGIApp(sio, other_asgi_app=PlainApp(dashboard))


@contextlib.contextmanager
def push_server(mode: str = "queued", **options: Any) -> Iterator[str]:
    """The plain dashboard in a thread; yields ``ws://127.0.0.1:PORT``."""
    with serving(PlainApp(Dashboard(mode, **options))) as port:
        yield f"ws://127.0.0.1:{port}"


@contextlib.contextmanager
def socketio_push_server(mode: str = "queued", **options: Any) -> Iterator[str]:
    """The Socket.IO dashboard in a thread; yields ``ws://127.0.0.1:PORT``."""
    dashboard = Dashboard(mode, **options)
    with serving(_socketio_app(dashboard)) as port:
        yield f"ws://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="queued")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--period", type=float, default=1.0, help="heartbeat period, seconds")
    parser.add_argument("--pad", type=int, default=0, help="bytes of random text per tick")
    parser.add_argument("--acked", action="store_true", help="sends wait for each ack")
    parser.add_argument("--stop-after", type=float, default=3.0,
                        help="silent: seconds until pushes stop")
    parser.add_argument("--socketio", action="store_true", help="serve Socket.IO")
    args = parser.parse_args(argv)
    dashboard = Dashboard(args.mode, args.period, args.pad, args.acked, args.stop_after)
    app = _socketio_app(dashboard) if args.socketio else PlainApp(dashboard)
    uvicorn.run(app, host="127.0.0.1", port=args.port, lifespan="off", log_level="warning",
                ws="websockets")


if __name__ == "__main__":
    main()
