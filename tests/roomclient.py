"""A small asyncio client of the room protocol, for tests.

Frames are built and read by :data:`harness.protocols.ROOMCHAOS`. One receive
loop per connection answers every delivered message with an ``ack`` (after
``ack_delay`` seconds, each independently, as a slow link would) and hands
every other frame to whoever waits for a reply: as the parsed frame (a dict,
for tests that compare the server's frames exactly), or as the
:class:`~harness.protocols.Unparseable` event when the frame cannot be read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.protocols import ROOMCHAOS, Delivered, MessageId, Unparseable

PROTOCOL = ROOMCHAOS


class RoomClient:
    def __init__(self, websocket: ClientConnection, ack_delay: float = 0.0) -> None:
        self.websocket = websocket
        self.ack_delay = ack_delay
        self.replies: asyncio.Queue[dict[str, Any] | Unparseable] = asyncio.Queue()
        #: The parsed ``message`` frames, in arrival order.
        self.messages: list[dict[str, Any]] = []
        #: The text of each ``message`` frame as it came off the wire.
        self.raw_messages: list[str | bytes] = []
        self.close_code: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._receiver = asyncio.create_task(self._receive())

    @classmethod
    async def open(cls, url: str, ack_delay: float = 0.0, *, compress: bool = True) -> RoomClient:
        """Connect; ``compress=False`` declines permessage-deflate (raw bytes on the wire)."""
        compression = "deflate" if compress else None
        return cls(await connect(url, max_size=None, compression=compression), ack_delay)

    async def _ack(self, message: Delivered, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self._send_ack(message)
        except ConnectionClosed:
            pass

    async def _send_ack(self, message: Delivered) -> None:
        ack = PROTOCOL.ack_frame(message)
        if ack is not None:  # the JSON protocol always acknowledges
            await self.websocket.send(ack)

    async def _receive(self) -> None:
        try:
            async for raw in self.websocket:
                event = PROTOCOL.classify(raw)
                if isinstance(event, Delivered):
                    self.messages.append(event.frame)
                    self.raw_messages.append(raw)
                    if self.ack_delay:
                        task = asyncio.create_task(self._ack(event, self.ack_delay))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                    else:
                        await self._send_ack(event)
                elif isinstance(event, Unparseable):
                    self.replies.put_nowait(event)
                else:
                    self.replies.put_nowait(event.frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.websocket.close_code

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        """Send a dict as JSON text; a ``str`` as a text frame, ``bytes`` as a binary frame.

        Dicts are for frames the protocol does not build (wrong on purpose);
        well-formed ones come from :data:`PROTOCOL` or the methods below.
        """
        await self.websocket.send(
            frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def request(
        self, frame: dict[str, Any] | str | bytes, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send ``frame``; return the next reply frame.

        Raises:
            AssertionError: the reply cannot be read (the reason says why).
        """
        await self.send(frame)
        return await self.reply(timeout)

    async def reply(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next reply frame.

        Raises:
            AssertionError: the reply cannot be read (the reason says why).
        """
        reply = await asyncio.wait_for(self.replies.get(), timeout)
        assert not isinstance(reply, Unparseable), reply
        return reply

    async def join(self, room: str, member: str) -> float:
        """Join and return the join latency in seconds."""
        started = time.monotonic()
        reply = await self.request(PROTOCOL.join_frame(room, member))
        assert reply["type"] == "joined", reply
        return time.monotonic() - started

    async def leave(self, room: str) -> None:
        reply = await self.request(PROTOCOL.leave_frame(room))
        assert reply["type"] == "left", reply

    async def broadcast(self, room: str, message_id: MessageId, body: Any = "x",
                        sent_at: float | None = None) -> None:
        """Send a broadcast (``sent_at`` defaults to now) without waiting for its reply."""
        await self.send(PROTOCOL.broadcast_frame(
            room, message_id, body, time.time() if sent_at is None else sent_at))

    async def close(self) -> None:
        await self.websocket.close()
        self._receiver.cancel()
        for task in list(self._tasks):
            task.cancel()


@asynccontextmanager
async def sender_and_receiver(
    url: str, room: str, sender_name: str = "sender"
) -> AsyncIterator[tuple[RoomClient, RoomClient]]:
    """Two members of ``room`` at ``url``: ``sender_name`` joins first, then ``receiver``.

    Both connections are closed on the way out.
    """
    sender = await RoomClient.open(url)
    receiver = await RoomClient.open(url)
    try:
        await sender.join(room, sender_name)
        await receiver.join(room, "receiver")
        yield sender, receiver
    finally:
        await sender.close()
        await receiver.close()
