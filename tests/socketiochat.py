"""The Socket.IO chat example's server (socket.io's examples/chat), on python-socketio and uvicorn.

Its events, as the example has them: a client emits ``add user`` (its name) and gets
``login`` ``{"numUsers": N}``, the others ``user joined`` ``{"username", "numUsers"}``;
``new message`` (any data) goes to every other client as ``new message``
``{"username", "message": data}``; ``typing`` and ``stop typing`` are relayed; a
disconnect tells the others ``user left``. It asks for no acknowledgements and answers
none. One room: everyone connected.

With ``broken``, ``new message`` holds the server's one lock until each recipient's
Engine.IO writer has taken the packet off its queue (a "flush" across the sends; the
writer takes the next packet only once the socket took the last one);
``add user`` takes that lock too, so a member that stopped reading (whose writer is
blocked in the socket's send) holds every login up.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import socketio

from tests.uvicorn_thread import serving

# The websockets backend awaits each send's drain, as a server whose send can block does
# (websockets-sansio never blocks, so nothing would ever back up); it is deprecated, not gone.
warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")

__all__ = ["chat_server"]


def _app(broken: bool) -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    users: dict[str, str] = {}
    lock = asyncio.Lock()

    async def flushed(sid: str) -> None:
        """Wait until ``sid``'s Engine.IO writer has taken everything queued for it (or the
        socket closed)."""
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        eio_socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        # Polled, not queue.join(): a socket that closed meanwhile never drains its queue.
        while eio_socket is not None and not eio_socket.closed and not eio_socket.queue.empty():
            await asyncio.sleep(0.005)

    @sio.on("add user")
    async def add_user(sid: str, username: Any) -> None:
        async with lock:
            if sid in users:
                return
            users[sid] = str(username)
            await sio.emit("login", {"numUsers": len(users)}, to=sid)
            await sio.emit("user joined", {"username": users[sid], "numUsers": len(users)},
                           skip_sid=sid)

    @sio.on("new message")
    async def new_message(sid: str, data: Any) -> None:
        if sid not in users:
            return
        payload = {"username": users[sid], "message": data}
        if not broken:
            await sio.emit("new message", payload, skip_sid=sid)
            return
        async with lock:
            for other in list(users):
                if other != sid:
                    await sio.emit("new message", payload, to=other)
                    await flushed(other)

    @sio.on("typing")
    async def typing(sid: str) -> None:
        if sid in users:
            await sio.emit("typing", {"username": users[sid]}, skip_sid=sid)

    @sio.on("disconnect")
    async def disconnect(sid: str, *_: Any) -> None:
        username = users.pop(sid, None)
        if username is not None:
            await sio.emit("user left", {"username": username, "numUsers": len(users)})

    return socketio.ASGIApp(sio)


@contextlib.contextmanager
def chat_server(broken: bool = False) -> Iterator[str]:
    """Serve the chat in a thread; yields ``ws://127.0.0.1:PORT`` (no path: the client's
    default, ``/socket.io/``)."""
    with serving(_app(broken)) as port:
        yield f"ws://127.0.0.1:{port}"
