"""The member's buffered receive path (harness.loadgen.frames), without sockets: the bytes a
server sends are handed to the reader in chosen pieces, one piece per ``recv``."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketProtocolException

from harness.loadgen.frames import MAX_RECV, FrameReader

TEXT, BINARY, CONT = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT
CLOSE, PING, PONG = ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    """A frame as a server writes it (unmasked unless ``mask``), with the shortest length."""
    first = (0x80 if fin else 0) | opcode
    flag = 0x80 if mask is not None else 0
    if len(payload) < 126:
        header = bytes([first, flag | len(payload)])
    elif len(payload) < 1 << 16:
        header = bytes([first, flag | 126]) + struct.pack("!H", len(payload))
    else:
        header = bytes([first, flag | 127]) + struct.pack("!Q", len(payload))
    if mask is None:
        return header + payload
    return header + mask + ABNF.mask(mask, payload)


class Wire:
    """Hands out ``pieces`` one per ``recv`` (each at most the size asked), then b"" (EOF);
    records pongs and close answers."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = [piece for piece in pieces if piece]
        self.recvs = 0
        self.pongs: list[bytes] = []
        self.closes = 0

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
            piece = piece[:size]
        return piece

    def reader(self, recv_size: int = 16384) -> FrameReader:
        return FrameReader(self.recv, self.pongs.append, self.close, recv_size)

    def close(self) -> None:
        self.closes += 1


def read_all(reader: FrameReader) -> list[tuple[int, bytes]]:
    """Every message until the connection ends."""
    messages = []
    with pytest.raises(WebSocketConnectionClosedException):
        while True:
            messages.append(reader.recv_data())
    return messages


def test_several_frames_in_one_read_take_one_recv() -> None:
    frames = [frame(TEXT, f'{{"n":{n}}}'.encode()) for n in range(20)]
    wire = Wire(b"".join(frames))
    reader = wire.reader()
    got = [reader.recv_data() for _ in range(20)]
    assert got == [(TEXT, f'{{"n":{n}}}'.encode()) for n in range(20)]
    assert wire.recvs == 1
    assert reader.buffered == 0


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.data())
def test_frames_split_anywhere_across_reads_come_back_whole(
        payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(BINARY, payload) for payload in payloads)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)))))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert read_all(Wire(*pieces).reader()) == [(BINARY, payload) for payload in payloads]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_seven_sixteen_and_sixty_four_bit_lengths(size: int) -> None:
    payload = os.urandom(size)
    stream = frame(BINARY, payload) + frame(TEXT, b"after")
    # A byte at a time for the header, then whatever is left.
    wire = Wire(*[stream[i:i + 1] for i in range(10)], stream[10:])
    assert read_all(wire.reader(recv_size=4096)) == [(BINARY, payload), (TEXT, b"after")]


def test_a_ping_is_answered_with_its_payload_and_not_returned() -> None:
    wire = Wire(frame(TEXT, b"one") + frame(PING, b"are you there") + frame(PONG, b"x")
                + frame(TEXT, b"two"))
    reader = wire.reader()
    assert reader.recv_data() == (TEXT, b"one")
    assert wire.pongs == []
    assert reader.recv_data() == (TEXT, b"two")
    assert wire.pongs == [b"are you there"]


def test_a_close_frame_is_answered_and_returned() -> None:
    status = struct.pack("!H", 1008) + b"slow consumer"
    wire = Wire(frame(TEXT, b"last") + frame(CLOSE, status))
    reader = wire.reader()
    assert reader.recv_data() == (TEXT, b"last")
    assert wire.closes == 0
    assert reader.recv_data() == (CLOSE, status)
    assert wire.closes == 1


def test_a_fragmented_message_is_put_together_around_a_ping() -> None:
    wire = Wire(frame(TEXT, b"he", fin=False) + frame(PING, b"p") + frame(CONT, b"ll", fin=False),
                frame(CONT, b"o"), frame(BINARY, b"next"))
    assert read_all(wire.reader()) == [(TEXT, b"hello"), (BINARY, b"next")]
    assert wire.pongs == [b"p"]


def test_a_masked_frame_is_unmasked() -> None:
    wire = Wire(frame(TEXT, b"masked text", mask=b"\x01\x02\x03\x04"))
    assert read_all(wire.reader()) == [(TEXT, b"masked text")]


@pytest.mark.parametrize(("stream", "problem"), [
    (bytes([0x80 | 0x40 | TEXT, 1]) + b"x", "rsv"),
    (bytes([0x80 | 0x3, 0]), "Invalid opcode"),
    (frame(PING, b"x", fin=False), "control frame"),
    (frame(PING, b"x" * 126), "control frame"),
    (frame(CONT, b"x"), "nothing to continue"),
    (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "inside a fragmented"),
])
def test_frames_a_client_cannot_accept_raise(stream: bytes, problem: str) -> None:
    with pytest.raises(WebSocketProtocolException, match=problem):
        read_all(Wire(stream).reader())


def test_nothing_more_is_read_while_a_whole_frame_is_buffered() -> None:
    """A paused loop calls no recv_data, and recv_data reads the socket only when the buffer
    holds no whole frame: what a stalled member has not read stays in the kernel."""
    wire = Wire(frame(TEXT, b"a") + frame(TEXT, b"b"), frame(TEXT, b"c"))
    reader = wire.reader()
    assert reader.recv_data() == (TEXT, b"a")
    assert reader.recv_data() == (TEXT, b"b")
    assert wire.recvs == 1 and wire.pieces == [frame(TEXT, b"c")]


def test_an_ended_connection_raises_closed() -> None:
    wire = Wire(frame(TEXT, b"whole") + frame(TEXT, b"cut short")[:4])
    reader = wire.reader()
    assert reader.recv_data() == (TEXT, b"whole")
    with pytest.raises(WebSocketConnectionClosedException):
        reader.recv_data()


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1, (64 << 20) + 1])
def test_a_length_over_the_limit_is_refused_before_anything_is_read(length: int) -> None:
    """Eight bytes of another frame read as a length must not allocate (or overflow)."""
    wire = Wire(bytes([0x80 | TEXT, 127]) + struct.pack("!Q", length), b"more")
    with pytest.raises(WebSocketProtocolException, match="over this reader's limit"):
        wire.reader().recv_data()
    assert wire.pieces == [b"more"]


def test_a_large_frame_in_many_small_pieces_is_read_in_one_recv_data() -> None:
    """A frame whose length is known is read in until whole, one recv per piece, none
    asking more than MAX_RECV."""
    payload = os.urandom(300_000)
    large = frame(BINARY, payload)
    stream = large + frame(TEXT, b"after")
    wire = Wire(*[stream[index:index + 1000] for index in range(0, len(stream), 1000)])
    asked: list[int] = []

    def recv(size: int) -> bytes:
        asked.append(size)
        return wire.recv(size)

    reader = FrameReader(recv, wire.pongs.append, wire.close)
    assert reader.recv_data() == (BINARY, payload)
    assert len(asked) == -(-len(large) // 1000) and max(asked) <= MAX_RECV
    assert reader.recv_data() == (TEXT, b"after")
