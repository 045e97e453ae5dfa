"""The room server: WebSocket handler and HTTP endpoints on one port.

Each connection has a reader loop and a command worker. The reader parses
frames, resolves acks at once and queues commands; the worker runs the
connection's commands one after another, in arrival order. A command that
fails unexpectedly is answered with an ``internal_error`` frame and logged
with its traceback; the worker goes on. One watcher bounds every connection's
unsent output (:mod:`.outputlimit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.http11 import Request, Response

import lockwatch
from targets.roomserver.connection import Connection
from targets.roomserver.context import ServerContext
from targets.roomserver.modes import MODES
from targets.roomserver.outputlimit import DEFAULT_MAX_UNSENT, watch_unsent_output
from targets.roomserver.protocol import (
    Ack,
    Broadcast,
    Command,
    Join,
    Leave,
    ProtocolError,
    encode,
    encode_message,
    error_frame,
    parse_frame,
)

__all__ = ["MAX_FRAME_BYTES", "RoomServer"]

logger = logging.getLogger("roomserver")

#: Frames larger than this close the connection with code 1009.
MAX_FRAME_BYTES = 64 * 1024

#: Commands a connection may have queued before new ones are refused with ``busy``.
MAX_PENDING_COMMANDS = 256

WEBSOCKET_PATH = "/ws"

#: Methods the HTTP endpoints answer; others get 405.
HTTP_METHODS = ("GET",)


class RoomServer:
    """Serve the room protocol in one mode.

    Args:
        context: Settings and shared state; ``context.mode`` picks the mode.
        lock_reports: Where ``/debug/locks`` reads lock reports from.
        max_unsent: Bytes of unsent output after which a connection is closed
            with code 1008.
    """

    def __init__(
        self,
        context: ServerContext,
        lock_reports: lockwatch.MemorySink,
        *,
        max_unsent: int = DEFAULT_MAX_UNSENT,
    ) -> None:
        if context.mode not in MODES:
            raise ValueError(f"unknown mode {context.mode!r}; choose one of {', '.join(MODES)}")
        self.context = context
        self.lock_reports = lock_reports
        self.max_unsent = max_unsent
        self._broadcast = MODES[context.mode]
        self._connections: set[Connection] = set()

    @contextlib.asynccontextmanager
    async def serve(self, host: str, port: int) -> AsyncIterator[Server]:
        """Listen on ``host:port`` while the context is open; yields the ``websockets`` server."""
        async with serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            max_size=MAX_FRAME_BYTES,
        ) as server:
            watcher = asyncio.create_task(
                watch_unsent_output(self._connections, self.max_unsent, self.context),
                name="unsent output watcher",
            )
            try:
                yield server
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)

    # HTTP on the same port.

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WEBSOCKET_PATH:
            return None
        routes: dict[str, Callable[[], tuple[str, str]]] = {
            "/healthz": lambda: ("text/plain; charset=utf-8", "ok\n"),
            "/debug/locks": self._locks_json,
            "/metrics": self._metrics_text,
        }
        route = routes.get(path)
        if route is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        if request.method not in HTTP_METHODS:
            response = connection.respond(
                http.HTTPStatus.METHOD_NOT_ALLOWED, f"{path} answers GET only\n"
            )
            response.headers["Allow"] = ", ".join(HTTP_METHODS)
            return response
        content_type, body = route()
        return Response(
            http.HTTPStatus.OK,
            "OK",
            Headers([("Content-Type", content_type), ("Cache-Control", "no-store")]),
            body.encode(),
        )

    def _locks_json(self) -> tuple[str, str]:
        reports = [report.to_dict() for report in self.lock_reports.reports]
        return "application/json", json.dumps(reports)

    def _metrics_text(self) -> tuple[str, str]:
        from targets.roomserver.metrics import render_metrics

        text = render_metrics(self.context, self._connections, self.lock_reports.reports)
        return "text/plain; version=0.0.4; charset=utf-8", text

    # WebSocket connections.

    async def _handle(self, websocket: ServerConnection) -> None:
        ctx = self.context
        connection = Connection(
            websocket, send_timeout=ctx.send_timeout, outbox_size=ctx.outbox_size,
            metrics=ctx.metrics, delivery=ctx.delivery,
        )
        self._connections.add(connection)
        ctx.metrics.connections += 1
        commands: asyncio.Queue[Command] = asyncio.Queue(MAX_PENDING_COMMANDS)
        worker = asyncio.create_task(
            self._run_commands(connection, commands), name=f"commands {connection.label}"
        )
        try:
            async for raw in websocket:
                try:
                    frame = parse_frame(raw)
                except ProtocolError as exc:
                    ctx.metrics.protocol_errors += 1
                    await websocket.send(error_frame(exc.code, exc.detail))
                    continue
                if isinstance(frame, Ack):
                    connection.acknowledge(frame.id)
                    continue
                try:
                    commands.put_nowait(frame)
                except asyncio.QueueFull:
                    await websocket.send(
                        error_frame("busy", f"more than {MAX_PENDING_COMMANDS} commands pending")
                    )
        except ConnectionClosedError as exc:
            logger.info("connection %s lost: %s", connection.label, exc)
        finally:
            connection.connection_lost()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await self._leave_all(connection)
            self._connections.discard(connection)

    async def _run_commands(self, connection: Connection, commands: asyncio.Queue[Command]) -> None:
        websocket = connection.websocket
        while True:
            command = await commands.get()
            try:
                reply = await self._execute(connection, command)
            except ProtocolError as exc:
                self.context.metrics.protocol_errors += 1
                reply = error_frame(exc.code, exc.detail)
            except Exception:
                # Never let one command end the worker: the connection would go silent.
                self.context.metrics.internal_errors += 1
                logger.exception("%s from %s failed", type(command).__name__, connection.label)
                reply = error_frame(
                    "internal_error",
                    f"the server failed to run this {type(command).__name__.lower()} "
                    "command; it is logged, and the connection stays usable",
                )
            try:
                await websocket.send(reply)
            except ConnectionClosed:
                return

    async def _execute(self, connection: Connection, command: Command) -> str:
        if isinstance(command, Join):
            members = await self._join(connection, command)
            return encode(
                {"type": "joined", "room": command.room, "member": command.member,
                 "members": members}
            )
        if isinstance(command, Leave):
            await self._leave(connection, command.room)
            return encode({"type": "left", "room": command.room})
        if isinstance(command, Broadcast):
            recipients = await self._broadcast_message(connection, command)
            return encode(
                {"type": "broadcasted", "room": command.room, "id": command.id,
                 "recipients": recipients}
            )
        raise AssertionError(f"unhandled command {command!r}")

    async def _join(self, connection: Connection, command: Join) -> int:
        rooms = self.context.rooms
        if command.room in connection.rooms:
            raise ProtocolError("already_joined", f"already in room {command.room!r}; leave first")
        while True:
            room = rooms.get_or_create(command.room)
            async with room.lock.write():
                if room.closed:
                    continue  # emptied and removed while we waited; take the new one
                holder = room.members.get(command.member)
                if holder is not None:
                    raise ProtocolError(
                        "member_taken",
                        f"member name {command.member!r} is taken in room {command.room!r}",
                    )
                room.members[command.member] = connection
                connection.rooms[command.room] = command.member
                return len(room.members)

    async def _leave(self, connection: Connection, room_name: str) -> None:
        member = connection.rooms.get(room_name)
        room = self.context.rooms.get(room_name)
        if member is None or room is None:
            raise ProtocolError("not_in_room", f"not in room {room_name!r}; join it first")
        async with room.lock.write():
            if room.members.get(member) is connection:
                del room.members[member]
            del connection.rooms[room_name]
            self.context.rooms.discard_if_empty(room)

    async def _leave_all(self, connection: Connection) -> None:
        for room_name in list(connection.rooms):
            try:
                await self._leave(connection, room_name)
            except ProtocolError:
                pass

    async def _broadcast_message(self, connection: Connection, command: Broadcast) -> int:
        sender_name = connection.rooms.get(command.room)
        room = self.context.rooms.get(command.room)
        if sender_name is None or room is None:
            raise ProtocolError("not_in_room", f"not in room {command.room!r}; join it first")
        self.context.metrics.broadcasts += 1
        message = encode_message(command.room, sender_name, command)
        return await self._broadcast(room, connection, message, self.context)


def listening_port(server: Server) -> int:
    """The TCP port ``server`` listens on (useful with port 0)."""
    for sock in server.sockets:
        return int(sock.getsockname()[1])
    raise RuntimeError("server has no listening socket")
