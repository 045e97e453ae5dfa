"""A member's buffered receive path: every whole WebSocket frame from one ``recv`` per batch.

``websocket-client`` reads a frame's header, its length and its payload with separate
``recv`` calls of exactly what it still lacks: two or three system calls (and as many
trips through gevent) per frame. At chat rate, where the frames are small and arrive a few
at a time, the process's receiver (:mod:`harness.loadgen.receiver`) reads up to
:data:`RECV_SIZE` bytes per ``recv`` instead and feeds them to the connection's
:class:`FrameReader`, which parses every whole frame in its buffer (RFC 6455, section 5):
one call serves them all.

It speaks the client side only: server frames are unmasked (a masked one is unmasked all
the same, as ``websocket-client`` does), a ping is answered at once with a pong of the
same payload, a close frame is answered with a close and handed to the caller, and a
fragmented message is put together from its continuation frames (pings may come between
them). A frame with reserved bits (no extension is negotiated), an unknown opcode, a
fragmented or over-long control frame, or a continuation with nothing to continue raises
:class:`websocket.WebSocketProtocolException`; an ended connection raises
:class:`websocket.WebSocketConnectionClosedException`, as ``websocket-client`` does.

The reader never reads the socket itself: it is fed what the receiver read
(:meth:`FrameReader.feed`), and the receiver reads a connection only when its buffer holds no
whole message, and not while its reading is paused (a stall). What was read before the pause
stays in this buffer, unread by the member, until the reading resumes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from websocket import (
    ABNF,
    WebSocketConnectionClosedException,
    WebSocketProtocolException,
)

__all__ = ["MAX_FRAME", "MAX_RECV", "RECV_SIZE", "FrameReader"]

#: Bytes asked of the socket per ``recv``: a burst of small frames in one system call. Kept
#: well under the kernel's receive buffer, so a stalled member's socket fills as before.
RECV_SIZE = 16384
#: The most asked of one ``recv`` while a large frame is read in.
MAX_RECV = 1 << 20
#: The longest frame accepted (64 MiB). A longer length is refused as a protocol error, not
#: allocated: a server that interleaves two writes can send any eight bytes as a length.
MAX_FRAME = 64 << 20

_TEXT, _BINARY, _CONT = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT
_CLOSE, _PING, _PONG = ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG
_DATA = (_TEXT, _BINARY)
_CONTROL = (_CLOSE, _PING, _PONG)
_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from


class FrameReader:
    """Whole messages from the bytes a client connection's socket gave, a buffer at a time.

    The caller (the process's receiver, :mod:`harness.loadgen.receiver`) asks :meth:`wanted`
    bytes of a ready socket, hands what came to :meth:`feed`, then takes every whole message
    with :meth:`next_message`.

    Args:
        pong: Sends a pong with the given payload (on the member's connection, never
            blocking the caller).
        send_close: Answers the server's close frame.
        recv_size: What :meth:`wanted` asks at least (more while a large frame is read in).
    """

    def __init__(self, pong: Callable[[bytes], object], send_close: Callable[[], object],
                 recv_size: int = RECV_SIZE) -> None:
        self._pong = pong
        self._send_close = send_close
        self._recv_size = recv_size
        self._buffer = b""
        self._offset = 0  # where the next frame starts in _buffer
        #: Bytes the frame begun in the buffer needs in all (0: its header is not whole yet),
        #: so that a large frame is read in as few calls as its size allows.
        self._want = 0
        #: Pieces fed and not joined to the buffer yet: joined once the frame begun is whole,
        #: so that a large frame read in many pieces costs no more than its size.
        self._more: list[bytes] = []
        self._more_size = 0
        #: A fragmented message so far: its opcode and its parts.
        self._opcode: int | None = None
        self._parts: list[bytes] = []

    @property
    def buffered(self) -> int:
        """Bytes read from the socket and not parsed yet."""
        return len(self._buffer) - self._offset + self._more_size

    def wanted(self) -> int:
        """Bytes to ask of the next ``recv``: :data:`RECV_SIZE`, or what the frame begun
        still needs (at most :data:`MAX_RECV`)."""
        return min(max(self._recv_size, self._want - self.buffered), MAX_RECV)

    def feed(self, data: bytes) -> None:
        """Add bytes read from the socket; empty ``data`` is the end of the connection.

        Raises:
            WebSocketConnectionClosedException: ``data`` is empty.
        """
        if not data:
            raise WebSocketConnectionClosedException("Connection to remote host was lost.")
        self._more.append(data)
        self._more_size += len(data)

    def next_message(self) -> tuple[int, bytes] | None:
        """The next whole message in what was fed, as ``websocket-client``'s ``recv_data``
        returns it: ``(opcode, payload)``, text or binary (payload as bytes, UTF-8 unchecked),
        or the server's close frame (already answered); None when more bytes are needed.
        Pings are answered and pongs dropped here.

        Raises:
            WebSocketProtocolException: a frame this client cannot accept.
        """
        while True:
            frame = self._parse()
            if frame is None:
                if not self._more or self.buffered < self._want:
                    return None
                # The frame begun is whole now (or its header may be): join the pieces once.
                rest = self._buffer[self._offset:]
                self._buffer = b"".join([rest, *self._more]) if rest else (
                    self._more[0] if len(self._more) == 1 else b"".join(self._more))
                self._offset = 0
                self._more, self._more_size = [], 0
                continue
            fin, opcode, payload = frame
            if opcode in _DATA:
                if self._opcode is not None:
                    raise WebSocketProtocolException("a new message inside a fragmented one")
                if fin:
                    return opcode, payload
                self._opcode, self._parts = opcode, [payload]
            elif opcode == _CONT:
                if self._opcode is None:
                    raise WebSocketProtocolException("a continuation frame with nothing to "
                                                     "continue")
                self._parts.append(payload)
                if fin:
                    whole = self._opcode, b"".join(self._parts)
                    self._opcode, self._parts = None, []
                    return whole
            elif opcode == _PING:
                self._pong(payload)
            elif opcode == _CLOSE:
                self._send_close()
                return opcode, payload
            # a pong: nothing asked for one, nothing to do

    def _parse(self) -> tuple[int, int, bytes] | None:
        """The next whole frame in the buffer as ``(fin, opcode, payload)``; None: more
        bytes are needed."""
        buffer, start = self._buffer, self._offset
        available = len(buffer) - start
        if available < 2:
            return None
        first, second = buffer[start], buffer[start + 1]
        if first & 0x70:
            raise WebSocketProtocolException("rsv is not implemented, yet")
        opcode = first & 0x0F
        fin = first >> 7
        length = second & 0x7F
        header = 2
        if length == 126:
            if available < 4:
                return None
            (length,) = _U16(buffer, start + 2)
            header = 4
        elif length == 127:
            if available < 10:
                return None
            (length,) = _U64(buffer, start + 2)
            header = 10
        if length > MAX_FRAME:  # also a 64-bit length with its high bit set (RFC 6455, 5.2)
            raise WebSocketProtocolException(f"a frame of {length} bytes, over this reader's "
                                             f"limit of {MAX_FRAME} bytes")
        masked = second & 0x80
        if masked:
            header += 4
        if opcode not in _DATA and opcode != _CONT and opcode not in _CONTROL:
            raise WebSocketProtocolException(f"Invalid opcode {opcode!r}")
        if opcode in _CONTROL and (not fin or length > 125):
            raise WebSocketProtocolException("Invalid control frame: fragmented or longer "
                                             "than 125 bytes")
        end = start + header + length
        if end > len(buffer):
            self._want = end - start
            return None
        self._want = 0
        payload = buffer[start + header:end]
        if masked:
            payload = ABNF.mask(buffer[start + header - 4:start + header], payload)
        self._offset = end
        return fin, opcode, payload
