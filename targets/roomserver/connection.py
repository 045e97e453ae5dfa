"""One client connection: delivery (acknowledged or written), sequence numbers, outbox.

With ``ack`` delivery (the default), delivering a message means writing the
frame and then waiting for the member's ``ack``, the two together bounded by
the send timeout. With ``write`` delivery it means what most real servers do:
``await websocket.send()``, which returns once the frame is in the transport
and waits (on drain) only while the connection's write buffer is above
websockets' ``write_limit`` (32 KiB), i.e. when the member stopped reading and
the socket's buffers are full; no ack is awaited, and the send timeout bounds
the write alone. The reader
loop of the connection resolves acks as soon as they arrive, even while one of
the connection's own commands is still running; otherwise every ack wait would
become a real deadlock, which is not the bug this server models.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from targets.roomserver.protocol import EncodedMessage, MessageId, message_text

if TYPE_CHECKING:
    from targets.roomserver.counters import ServerMetrics

__all__ = ["DELIVERIES", "Connection", "DeliveryFailed", "OutgoingMessage"]

#: How a delivery completes: ``ack`` (write, then wait for the member's ack) or
#: ``write`` (``await websocket.send()`` alone, back-pressured by the socket).
DELIVERIES = ("ack", "write")

logger = logging.getLogger("roomserver")


class DeliveryFailed(Exception):
    """A message could not be delivered: timeout, or the connection closed."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A ``message`` frame for one member: its id (for the ack) and its text."""

    id: MessageId
    text: str


class Connection:
    """Server-side state of one WebSocket client.

    Args:
        websocket: The underlying connection.
        send_timeout: Seconds one delivery (write and ack together) may take.
        outbox_size: Capacity of the outbox used by the ``fixed`` mode.
        metrics: Where failed deliveries are counted.
        delivery: ``ack`` or ``write`` (see :data:`DELIVERIES`).
    """

    def __init__(
        self,
        websocket: ServerConnection,
        *,
        send_timeout: float,
        outbox_size: int,
        metrics: ServerMetrics,
        delivery: str = "ack",
    ) -> None:
        if delivery not in DELIVERIES:
            raise ValueError(f"unknown delivery {delivery!r}; choose one of "
                             f"{', '.join(DELIVERIES)}")
        self.websocket = websocket
        self.awaits_ack = delivery == "ack"
        self.send_timeout = send_timeout
        self.metrics = metrics
        self.label = f"{websocket.remote_address[0]}:{websocket.remote_address[1]}"
        #: Rooms this connection is in, mapped to its member name there.
        self.rooms: dict[str, str] = {}
        self.closed = False
        #: Set once the outbox overflowed: the member is being disconnected.
        self.dropped = False
        #: Set once its unsent output passed the limit: it is being disconnected.
        self.over_limit = False
        self.outbox: asyncio.Queue[OutgoingMessage] = asyncio.Queue(outbox_size)
        self._seq = 0
        # Several senders may reuse an id: waiters per id are served in order.
        self._pending_acks: dict[MessageId, collections.deque[asyncio.Future[None]]] = {}
        self._writer: asyncio.Task[None] | None = None

    def message_frame(self, message: EncodedMessage) -> OutgoingMessage:
        """Build this member's ``message`` frame, taking the next ``seq``.

        Sequence numbers are assigned when a message is produced, not when it
        hits the wire, so that receivers can see reordering by a mode.
        """
        self._seq += 1
        return OutgoingMessage(message.id, message_text(message, self._seq))

    async def deliver(self, frame: OutgoingMessage) -> None:
        """Write ``frame`` (and with ``ack`` delivery wait for its ``ack``) within the send timeout.

        A write that cannot finish in time (the member does not read) fails
        the delivery like a missing ack. The frame may still reach the member
        later; its ack is then ignored (acks are ignored altogether with
        ``write`` delivery).

        Raises:
            DeliveryFailed: on timeout, or when the connection is or becomes
                closed; in the latter case at once, not after the timeout.
        """
        if self.closed:
            raise DeliveryFailed(f"{self.label} is closed")
        if not self.awaits_ack:
            await self._write(frame)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._pending_acks.setdefault(frame.id, collections.deque())
        waiters.append(waiter)
        written = False
        try:
            async with asyncio.timeout(self.send_timeout):
                # A send() cancelled while it waits in drain() has already queued the whole
                # frame in the transport, so the connection stays usable; what piles up
                # there is bounded by the unsent output limit (outputlimit.py).
                await self.websocket.send(frame.text)
                written = True
                await waiter
        except TimeoutError:
            what = "no ack from" if written else "could not write to"
            raise DeliveryFailed(
                f"{what} {self.label} for id {frame.id!r} within {self.send_timeout} s"
            ) from None
        except ConnectionClosed:
            raise DeliveryFailed(f"{self.label} closed") from None
        finally:
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # mark retrieved: the failure was already raised
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._pending_acks.get(frame.id) is waiters:
                del self._pending_acks[frame.id]

    async def _write(self, frame: OutgoingMessage) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.websocket.send(frame.text)
        except TimeoutError:
            raise DeliveryFailed(
                f"could not write to {self.label} for id {frame.id!r} within {self.send_timeout} s"
            ) from None
        except ConnectionClosed:
            raise DeliveryFailed(f"{self.label} closed") from None

    async def deliver_or_count(self, frame: OutgoingMessage) -> bool:
        """:meth:`deliver` ``frame``; a failure is counted and logged, and gives ``False``."""
        try:
            await self.deliver(frame)
        except DeliveryFailed as exc:
            self.metrics.delivery_failures += 1
            logger.warning("delivery failed: %s", exc)
            return False
        return True

    def acknowledge(self, message_id: MessageId) -> None:
        """Resolve the oldest delivery waiting for ``message_id``; ignore unknown ids."""
        waiters = self._pending_acks.get(message_id)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def enqueue(self, frame: OutgoingMessage) -> bool:
        """Put ``frame`` into the outbox without waiting; ``False`` if it is full."""
        if self.closed or self.dropped:
            return True  # already on its way out; flag an overflow only once
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped = True
            return False
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain_outbox(), name=f"writer {self.label}")
        return True

    async def _drain_outbox(self) -> None:
        # One writer per member keeps its messages in order.
        while True:
            frame = await self.outbox.get()
            if not await self.deliver_or_count(frame) and self.closed:
                return

    async def close_slow_consumer(self) -> None:
        """Disconnect a member whose outbox overflowed (close code 1008)."""
        reason = f"slow consumer: outbox full ({self.outbox.maxsize} messages)"
        logger.warning("disconnecting %s: %s", self.label, reason)
        await self.websocket.close(1008, reason)

    def unsent_bytes(self) -> int:
        """Bytes written to this connection that the kernel has not taken yet."""
        return self.websocket.transport.get_write_buffer_size()

    async def close_over_limit(self, limit: int) -> None:
        """Disconnect a member whose unsent output passed ``limit`` bytes (close code 1008).

        Reading stops first: whatever the member sends (pings, commands) would
        only add output it does not read. The close frame waits behind the
        unsent output; after the close timeout the connection is cut.
        """
        unsent = self.unsent_bytes()
        logger.warning("disconnecting %s: output buffer over limit (%d bytes unsent, limit %d)",
                       self.label, unsent, limit)
        self.websocket.transport.pause_reading()
        await self.websocket.close(1008, "output buffer over limit")

    def connection_lost(self) -> None:
        """Fail every pending delivery at once and stop the outbox writer."""
        self.closed = True
        for waiters in self._pending_acks.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(DeliveryFailed(f"{self.label} disconnected"))
        self._pending_acks.clear()
        if self._writer is not None:
            self._writer.cancel()
