"""One reader for every member's socket in a Locust process.

A receive greenlet per member cost a wake-up (a libev callback and two greenlet switches) per
frame received, the largest share of a chat-rate generator's CPU (docs/benchmarks.md, section
9). Here the process has one :class:`Receiver`: a gevent loop ``io`` watcher per connection
whose callback only notes the connection as ready, and one greenlet that takes every
connection noted in a loop iteration in one batch. For each it makes one non-blocking ``recv``
(what :meth:`FrameReader.wanted <harness.loadgen.frames.FrameReader.wanted>` asks) into the
connection's :class:`~harness.loadgen.frames.FrameReader`, parses every whole frame and hands
each message to the member's callback, which classifies, times and records it. A socket with
more to read stays readable (the watcher is level-triggered) and is read again in the next
batch, so one member's backlog never holds up the others for more than one ``recv``; a batch
that runs longer than :data:`SLICE_S` lets the other greenlets run before it goes on.

Nothing in a batch may block: a pong, a close answer, an ack or a protocol's own answer goes
through the connection's :class:`Reading` (:meth:`Reading.send_soon`), sent at once where
nothing of the connection's waits, its send lock is free and the kernel takes it whole, else it
waits in the reading's outbox, which one greenlet sends in order behind the lock. A batch
past its slice also stops between two messages of one connection (the rest stays buffered,
read in a later batch), and then sleeps a moment, so the loop polls the other sockets and runs
the members' timers. An error in one member's callbacks ends that member's connection and
is logged; the receiver reads on.

A :class:`Reading` (one connection) can be paused, for a stall: its watcher stops, so nothing
more is read and the kernel's buffers fill; :meth:`Reading.resume` starts it again and parses
what was read already. An ended connection (EOF, an error, the server's close frame, a
protocol error) stops its watcher and tells the member through ``on_end``, once.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import gevent
from gevent import GreenletExit
from gevent.hub import Hub, Waiter
from websocket import ABNF, WebSocket, WebSocketConnectionClosedException

from harness.loadgen.frames import FrameReader

__all__ = ["SLICE_S", "Reading", "Receiver", "receiver"]

logger = logging.getLogger(__name__)

#: The longest a batch reads before it lets the other greenlets run (the members' timers and
#: the replies they wait for): after a stall's lift one member may have hundreds of frames.
SLICE_S = 0.002
#: How long a batch whose slice is over sleeps: any sleep with a timer lets the loop poll
#: (the others' sockets, the members' timers) before the batch goes on.
YIELD_S = 0.0001

_CLOSE = ABNF.OPCODE_CLOSE
_DONTWAIT = socket.MSG_DONTWAIT
_NORMAL_CLOSE = (1000).to_bytes(2, "big")

#: A message's handler: ``(opcode, payload)``; raising ends the connection with that error.
OnMessage = Callable[[int, bytes], None]
#: Told once why the connection ended (the exception that ended it).
OnEnd = Callable[[BaseException], None]


def _nonblocking_recv(sock: Any) -> Callable[[int], bytes | None]:
    """A ``recv`` of ``sock`` that never waits: None when nothing is there now."""
    sslobj = getattr(sock, "_sslobj", None)
    if sslobj is not None:  # TLS: read the decrypted stream, not the raw socket
        ragged_eof_is_eof = getattr(sock, "suppress_ragged_eofs", True)

        def recv_tls(size: int) -> bytes | None:
            try:
                return bytes(sslobj.read(size))
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None
            except ssl.SSLEOFError:
                # A peer gone without close_notify: the end of the stream, as gevent's own
                # recv (and so the per-member loop before) reports it.
                if ragged_eof_is_eof:
                    return b""
                raise
        return recv_tls
    # gevent's socket waits in recv for a would-block; its OS socket (_sock) does not.
    raw_recv = getattr(sock, "_sock", sock).recv

    def recv(size: int) -> bytes | None:
        try:
            return raw_recv(size, _DONTWAIT)
        except BlockingIOError:
            return None
    return recv


class _Outbox:
    """The frames the receiver sends on one connection (pongs, close answers, acks, a
    protocol's answers), in the order given, never blocking the receiver: what cannot go at
    once waits here for one greenlet, which sends behind the connection's send lock. Each
    :class:`Reading` has one."""

    __slots__ = ("frames", "sender", "ws")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.frames: deque[bytes] = deque()
        self.sender: gevent.Greenlet | None = None

    def send(self, data: bytes) -> None:
        if self.sender is not None:  # frames wait already: this one goes after them
            self.frames.append(data)
            return
        sock, lock = self.ws.sock, self.ws.lock
        raw = getattr(sock, "_sock", None)
        if raw is None or getattr(sock, "_sslobj", None) is not None or not lock.acquire(False):
            self.frames.append(data)
            self.sender = gevent.spawn(self._drain, sock, lock, b"")
            return
        try:
            sent = raw.send(data, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        except BaseException:
            lock.release()
            raise
        if sent == len(data):
            lock.release()
        else:  # the lock stays held: the rest of this frame goes before anything else
            self.sender = gevent.spawn(self._drain, sock, lock, data[sent:])

    def _drain(self, sock: Any, lock: Any, rest_under_lock: bytes) -> None:
        """Send the rest of a frame begun under ``lock`` (then held), then every waiting
        frame; a broken connection drops them (its reader sees it and ends the member)."""
        try:
            if rest_under_lock:
                try:
                    sock.sendall(rest_under_lock)
                finally:
                    lock.release()
            while self.frames:
                data = self.frames.popleft()
                with lock:
                    sock.sendall(data)
        except OSError:
            self.frames.clear()
        finally:
            self.sender = None

    def close(self) -> None:
        """The connection closes: drop what waits, and stop sending it."""
        self.frames.clear()
        if self.sender is not None:
            self.sender.kill(block=False)


class Reading:
    """One connection the receiver reads (:meth:`Receiver.watch`).

    Attributes:
        reader: The connection's frame reader (what was read and not parsed yet).
    """

    __slots__ = ("_end", "_message", "_outbox", "_pending", "_receiver", "_recv", "_watcher",
                 "active", "paused", "queued", "reader", "ws")

    def __init__(self, receiver: Receiver, ws: WebSocket, on_message: OnMessage,
                 on_end: OnEnd) -> None:
        assert ws.sock is not None
        self._receiver = receiver
        self.ws = ws
        self._message = on_message
        self._end = on_end
        self._recv = _nonblocking_recv(ws.sock)
        #: TLS keeps decrypted bytes that the descriptor no longer shows as readable.
        self._pending: Callable[[], int] | None = (
            getattr(ws.sock, "pending", None) if getattr(ws.sock, "_sslobj", None) else None)
        self._outbox = _Outbox(ws)
        self.reader = FrameReader(lambda payload: self.send_soon(payload, ABNF.OPCODE_PONG),
                                  self._send_close)
        #: False once the connection ended or was closed: never read again.
        self.active = True
        #: True while a stall holds it: its watcher is stopped.
        self.paused = False
        #: True while it waits in the receiver's ready list.
        self.queued = False
        self._watcher = receiver.loop.io(ws.sock.fileno(), 1)
        self._watcher.start(receiver.note, self)

    def pause(self) -> None:
        """Read nothing more (a stall): the socket's data stays in the kernel."""
        if self.active and not self.paused:
            self.paused = True
            self._watcher.stop()

    def resume(self) -> None:
        """Read again, first what was read before the pause and not parsed yet."""
        if self.active and self.paused:
            self.paused = False
            self._watcher.start(self._receiver.note, self)
            self._receiver.note(self)

    def close(self) -> None:
        """Stop reading for good (the member closes the connection): call before the socket
        closes, so that the loop watches no closed descriptor."""
        self.active = False
        self._watcher.stop()
        self._watcher.close()
        self._outbox.close()

    def send_soon(self, payload: bytes | str, opcode: int = ABNF.OPCODE_TEXT) -> None:
        """Send one frame on the connection without blocking the caller (the receiver's
        batch), after any frame sent this way before it: at once when none waits, the send
        lock is free and the kernel takes it whole, else from the outbox's greenlet, in order.

        Raises:
            OSError: the send failed at once (the connection is broken).
            WebSocketConnectionClosedException: the connection is closed already (or no
                longer read).
        """
        ws = self.ws
        if ws.sock is None or not self.active:
            raise WebSocketConnectionClosedException("socket is already closed.")
        frame = ABNF.create_frame(payload, opcode)
        if ws.get_mask_key:
            frame.get_mask_key = ws.get_mask_key
        self._outbox.send(frame.format())

    def _send_close(self) -> None:
        """Answer the server's close frame (as ``websocket-client``'s ``send_close`` does)."""
        self.ws.connected = False
        self.send_soon(_NORMAL_CLOSE, _CLOSE)

    def fail(self, error: BaseException) -> None:
        """End the connection with ``error``: stop reading, and tell the member once (a
        member's own failure to take it is logged: it must not stop the receiver)."""
        if not self.active:
            return
        self.close()
        try:
            self._end(error)
        except Exception:
            logger.exception("ending a member's connection failed")

    def read(self, deadline: float) -> None:
        """One batch's turn: parse what is buffered, one ``recv``, parse what came. Past
        ``deadline`` (the batch's slice) it stops between two messages and queues itself
        again, its frames kept. Any error ends the connection (``on_end``)."""
        try:
            if not self._parse(deadline):
                return
            data = self._recv(self.reader.wanted())
            if data is None:
                return  # woken, yet nothing there (TLS: a record not whole yet)
            self.reader.feed(data)
            if not self._parse(deadline):
                return
            if self._pending is not None and self.active and not self.paused and self._pending():
                self._receiver.note(self)
        except Exception as exc:  # noqa: BLE001 (the member tells errors from bugs)
            self.fail(exc)

    def _parse(self, deadline: float) -> bool:
        """Hand every whole message buffered to the member; False once it may read no more
        now (paused or ended meanwhile, or the slice is over: then it is queued again)."""
        reader, on_message, clock = self.reader, self._message, time.perf_counter
        while self.active and not self.paused:
            message = reader.next_message()
            if message is None:
                return True
            on_message(*message)
            if clock() > deadline and reader.buffered:
                self._receiver.note(self)  # the rest in a later batch: others go first
                return False
        return False


class Receiver:
    """The process's one reader of members' sockets (one per gevent hub: :func:`receiver`)."""

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub if hub is not None else gevent.get_hub()
        self.loop = self.hub.loop
        self._ready: list[Reading] = []
        self._waiter: Waiter | None = None
        self._wake_planned = False
        self._greenlet: gevent.Greenlet | None = None
        #: Batches run and connections read, for tests and profiles.
        self.batches = 0
        self.reads = 0

    def watch(self, ws: WebSocket, on_message: OnMessage, on_end: OnEnd) -> Reading:
        """Read ``ws`` from now on: each message goes to ``on_message(opcode, payload)``
        (text payloads undecoded; the server's close frame too, answered already), and
        ``on_end(error)`` is told once when the connection ends."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        return Reading(self, ws, on_message, on_end)

    def note(self, reading: Reading) -> None:
        """A connection is ready (its watcher's callback, in the hub): queue it for the next
        batch, and wake the batch once per loop iteration."""
        if reading.queued:
            return
        reading.queued = True
        self._ready.append(reading)
        if self._waiter is not None and not self._wake_planned:
            self._wake_planned = True
            # Run after every io callback of this loop iteration: one batch for them all.
            self.loop.run_callback(self._wake)
        elif self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def _wake(self) -> None:
        self._wake_planned = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.switch(None)

    def _run(self) -> None:
        clock = time.perf_counter
        while True:
            if not self._ready:
                self._waiter = Waiter(self.hub)
                self._waiter.get()
            ready, self._ready = self._ready, []
            self.batches += 1
            deadline = clock() + SLICE_S
            for index, reading in enumerate(ready):
                reading.queued = False
                if reading.active:
                    self.reads += 1
                    try:
                        reading.read(deadline)
                    except (GreenletExit, KeyboardInterrupt, SystemExit):
                        self._ready[:0] = ready[index + 1:]  # still queued: read them later
                        raise
                    except BaseException as exc:  # noqa: BLE001 (one member's, not all's)
                        logger.exception("reading a member's connection failed")
                        reading.fail(exc)
                if clock() > deadline and index + 1 < len(ready):
                    self._ready[:0] = ready[index + 1:]  # their turn comes first
                    break
            if clock() > deadline:
                # The slice is over: let the loop poll and run the members' timers and tasks.
                # Not sleep(0): that runs the ready greenlets only, and polls nothing.
                gevent.sleep(YIELD_S)


_receivers: WeakKeyDictionary[Hub, Receiver] = WeakKeyDictionary()


def receiver() -> Receiver:
    """This thread's receiver (Locust runs every member in one thread's hub)."""
    hub = gevent.get_hub()
    found = _receivers.get(hub)
    if found is None:
        found = _receivers[hub] = Receiver(hub)
    return found
