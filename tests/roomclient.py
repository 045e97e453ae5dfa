"""A small asyncio client of the room protocol, for tests.

One receive loop per connection answers every ``message`` with an ``ack``
(after ``ack_delay`` seconds, each independently, as a slow link would) and
hands every other frame to whoever waits for that frame type.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class RoomClient:
    def __init__(self, websocket: ClientConnection, ack_delay: float = 0.0) -> None:
        self.websocket = websocket
        self.ack_delay = ack_delay
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.messages: list[dict[str, Any]] = []
        #: The text of each ``message`` frame as it came off the wire.
        self.raw_messages: list[str | bytes] = []
        self.close_code: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._receiver = asyncio.create_task(self._receive())

    @classmethod
    async def open(cls, url: str, ack_delay: float = 0.0) -> RoomClient:
        return cls(await connect(url, max_size=None), ack_delay)

    async def _ack_later(self, message_id: Any) -> None:
        await asyncio.sleep(self.ack_delay)
        try:
            await self.websocket.send(json.dumps({"type": "ack", "id": message_id}))
        except ConnectionClosed:
            pass

    async def _receive(self) -> None:
        try:
            async for raw in self.websocket:
                frame = json.loads(raw)
                if frame["type"] == "message":
                    self.messages.append(frame)
                    self.raw_messages.append(raw)
                    if self.ack_delay:
                        task = asyncio.create_task(self._ack_later(frame["id"]))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                    else:
                        await self.websocket.send(json.dumps({"type": "ack", "id": frame["id"]}))
                else:
                    self.replies.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.websocket.close_code

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        """Send a dict as JSON text; a ``str`` as a text frame, ``bytes`` as a binary frame."""
        await self.websocket.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def request(
        self, frame: dict[str, Any] | str | bytes, timeout: float = 30.0
    ) -> dict[str, Any]:
        await self.send(frame)
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def join(self, room: str, member: str) -> float:
        """Join and return the join latency in seconds."""
        started = time.monotonic()
        reply = await self.request({"type": "join", "room": room, "member": member})
        assert reply["type"] == "joined", reply
        return time.monotonic() - started

    async def leave(self, room: str) -> None:
        reply = await self.request({"type": "leave", "room": room})
        assert reply["type"] == "left", reply

    async def close(self) -> None:
        await self.websocket.close()
        self._receiver.cancel()
        for task in list(self._tasks):
            task.cancel()
