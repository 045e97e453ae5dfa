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

Nothing in a batch may block: a pong, a close answer, an ack or a protocol's own answer is
sent at once where the connection's send lock is free and the kernel takes it whole
(:func:`send_soon`), else by a greenlet of its own, behind the lock.

A :class:`Reading` (one connection) can be paused, for a stall: its watcher stops, so nothing
more is read and the kernel's buffers fill; :meth:`Reading.resume` starts it again and parses
what was read already. An ended connection (EOF, an error, the server's close frame, a
protocol error) stops its watcher and tells the member through ``on_end``, once.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import gevent
from gevent.hub import Hub, Waiter
from websocket import ABNF, WebSocket, WebSocketConnectionClosedException

from harness.loadgen.frames import FrameReader

__all__ = ["SLICE_S", "Reading", "Receiver", "receiver", "send_soon"]

#: The longest a batch reads before it lets the other greenlets run (the members' timers and
#: the replies they wait for): after a stall's lift one member may have hundreds of frames.
SLICE_S = 0.002

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
        def recv_tls(size: int) -> bytes | None:
            try:
                return bytes(sslobj.read(size))
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None
        return recv_tls
    # gevent's socket waits in recv for a would-block; its OS socket (_sock) does not.
    raw_recv = getattr(sock, "_sock", sock).recv

    def recv(size: int) -> bytes | None:
        try:
            return raw_recv(size, _DONTWAIT)
        except BlockingIOError:
            return None
    return recv


def send_soon(ws: WebSocket, payload: bytes | str, opcode: int = ABNF.OPCODE_TEXT) -> None:
    """Send one frame on ``ws`` without blocking the caller (the receiver's batch): at once
    when the send lock is free and the kernel takes it whole, else the rest (or all of it,
    behind the lock) from a greenlet of its own, so that frames never interleave.

    Raises:
        OSError: the send failed at once (the connection is broken).
        WebSocketConnectionClosedException: the connection is closed already.
    """
    sock = ws.sock
    if sock is None:
        raise WebSocketConnectionClosedException("socket is already closed.")
    frame = ABNF.create_frame(payload, opcode)
    if ws.get_mask_key:
        frame.get_mask_key = ws.get_mask_key
    data = frame.format()
    lock = ws.lock
    raw = getattr(sock, "_sock", None)
    if raw is None or getattr(sock, "_sslobj", None) is not None or not lock.acquire(False):
        gevent.spawn(_send_locked, sock, lock, data)
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
    else:
        gevent.spawn(_send_rest, sock, lock, data[sent:])


def _send_locked(sock: Any, lock: Any, data: bytes) -> None:
    """Send ``data`` whole behind the connection's send lock; a broken connection is seen by
    its reader, not here."""
    try:
        with lock:
            sock.sendall(data)
    except OSError:
        pass


def _send_rest(sock: Any, lock: Any, data: bytes) -> None:
    """Send the rest of a frame begun under ``lock`` (held), then release it."""
    try:
        sock.sendall(data)
    except OSError:
        pass
    finally:
        lock.release()


def _send_close(ws: WebSocket) -> None:
    """Answer the server's close frame (as ``websocket-client``'s ``send_close`` does)."""
    ws.connected = False
    send_soon(ws, _NORMAL_CLOSE, _CLOSE)


class Reading:
    """One connection the receiver reads (:meth:`Receiver.watch`).

    Attributes:
        reader: The connection's frame reader (what was read and not parsed yet).
    """

    __slots__ = ("_end", "_message", "_pending", "_receiver", "_recv", "_watcher", "active",
                 "paused", "queued", "reader", "ws")

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
        self.reader = FrameReader(None, lambda payload: send_soon(ws, payload, ABNF.OPCODE_PONG),
                                  lambda: _send_close(ws))
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

    def read(self) -> None:
        """One batch's turn: parse what is buffered, one ``recv``, parse what came. Any error
        ends the connection (``on_end``)."""
        try:
            if not self._parse():
                return
            data = self._recv(self.reader.wanted())
            if data is None:
                return  # woken, yet nothing there (TLS: a record not whole yet)
            self.reader.feed(data)
            self._parse()
            if self._pending is not None and self.active and not self.paused and self._pending():
                self._receiver.note(self)
        except Exception as exc:  # noqa: BLE001 (the member tells errors from bugs)
            self.close()
            self._end(exc)

    def _parse(self) -> bool:
        """Hand every whole message buffered to the member; False once it may read no more
        (paused or ended meanwhile)."""
        reader, on_message = self.reader, self._message
        while self.active and not self.paused:
            message = reader.next_message()
            if message is None:
                return True
            on_message(*message)
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
            started = clock()
            for index, reading in enumerate(ready):
                reading.queued = False
                if reading.active:
                    self.reads += 1
                    reading.read()
                if clock() - started > SLICE_S and index + 1 < len(ready):
                    self._ready[:0] = ready[index + 1:]  # their turn comes first
                    gevent.sleep(0)
                    break


_receivers: WeakKeyDictionary[Hub, Receiver] = WeakKeyDictionary()


def receiver() -> Receiver:
    """This thread's receiver (Locust runs every member in one thread's hub)."""
    hub = gevent.get_hub()
    found = _receivers.get(hub)
    if found is None:
        found = _receivers[hub] = Receiver(hub)
    return found
