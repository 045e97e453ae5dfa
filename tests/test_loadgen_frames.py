"""The member's buffered receive path (harness.loadgen.frames), without sockets: the bytes a
server sends are fed to the reader in chosen pieces, as the receiver feeds what each ``recv``
gave."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketProtocolException

from harness.loadgen.frames import MAX_RECV, RECV_SIZE, FrameReader

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
    """What a server sent, in pieces, fed to a reader as the receiver feeds it: each piece
    at most what the reader asks (:meth:`FrameReader.wanted`); records pongs and close
    answers."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = [piece for piece in pieces if piece]
        self.feeds = 0
        self.pongs: list[bytes] = []
        self.closes = 0

    def reader(self, recv_size: int = RECV_SIZE) -> FrameReader:
        return FrameReader(self.pongs.append, self.close, recv_size)

    def close(self) -> None:
        self.closes += 1

    def feed(self, reader: FrameReader) -> None:
        """Feed the next piece, or what of it the reader asks (the rest stays next)."""
        size = reader.wanted()
        assert 0 < size <= MAX_RECV
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
            piece = piece[:size]
        self.feeds += 1
        reader.feed(piece)


def whole_messages(reader: FrameReader) -> list[tuple[int, bytes]]:
    """Every whole message in what was fed so far."""
    messages = []
    while (message := reader.next_message()) is not None:
        messages.append(message)
    return messages


def read_all(wire: Wire, reader: FrameReader) -> list[tuple[int, bytes]]:
    """Every message: each piece fed in turn, every whole message taken after each, then the
    end of the connection (an empty feed), which raises closed."""
    messages = whole_messages(reader)
    while wire.pieces:
        wire.feed(reader)
        messages += whole_messages(reader)
    with pytest.raises(WebSocketConnectionClosedException):
        reader.feed(b"")
    return messages


def test_several_frames_fed_at_once_come_out_without_more() -> None:
    frames = [frame(TEXT, f'{{"n":{n}}}'.encode()) for n in range(20)]
    reader = Wire().reader()
    reader.feed(b"".join(frames))
    assert whole_messages(reader) == [(TEXT, f'{{"n":{n}}}'.encode()) for n in range(20)]
    assert reader.buffered == 0


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.data())
def test_frames_split_anywhere_across_feeds_come_back_whole(
        payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(BINARY, payload) for payload in payloads)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)))))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    wire = Wire(*pieces)
    assert read_all(wire, wire.reader()) == [(BINARY, payload) for payload in payloads]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_seven_sixteen_and_sixty_four_bit_lengths(size: int) -> None:
    payload = os.urandom(size)
    stream = frame(BINARY, payload) + frame(TEXT, b"after")
    # A byte at a time for the header, then whatever is left.
    wire = Wire(*[stream[i:i + 1] for i in range(10)], stream[10:])
    assert read_all(wire, wire.reader(recv_size=4096)) == [(BINARY, payload),
                                                           (TEXT, b"after")]


def test_a_ping_is_answered_with_its_payload_and_not_returned() -> None:
    wire = Wire()
    reader = wire.reader()
    reader.feed(frame(TEXT, b"one") + frame(PING, b"are you there") + frame(PONG, b"x")
                + frame(TEXT, b"two"))
    assert reader.next_message() == (TEXT, b"one")
    assert wire.pongs == []
    assert reader.next_message() == (TEXT, b"two")
    assert wire.pongs == [b"are you there"]
    assert reader.next_message() is None


def test_a_close_frame_is_answered_and_returned() -> None:
    status = struct.pack("!H", 1008) + b"slow consumer"
    wire = Wire()
    reader = wire.reader()
    reader.feed(frame(TEXT, b"last") + frame(CLOSE, status))
    assert reader.next_message() == (TEXT, b"last")
    assert wire.closes == 0
    assert reader.next_message() == (CLOSE, status)
    assert wire.closes == 1


def test_a_fragmented_message_is_put_together_around_a_ping() -> None:
    wire = Wire(frame(TEXT, b"he", fin=False) + frame(PING, b"p") + frame(CONT, b"ll", fin=False),
                frame(CONT, b"o"), frame(BINARY, b"next"))
    assert read_all(wire, wire.reader()) == [(TEXT, b"hello"), (BINARY, b"next")]
    assert wire.pongs == [b"p"]


def test_a_masked_frame_is_unmasked() -> None:
    wire = Wire(frame(TEXT, b"masked text", mask=b"\x01\x02\x03\x04"))
    assert read_all(wire, wire.reader()) == [(TEXT, b"masked text")]


@pytest.mark.parametrize(("stream", "problem"), [
    (bytes([0x80 | 0x40 | TEXT, 1]) + b"x", "rsv"),
    (bytes([0x80 | 0x3, 0]), "Invalid opcode"),
    (frame(PING, b"x", fin=False), "control frame"),
    (frame(PING, b"x" * 126), "control frame"),
    (frame(CONT, b"x"), "nothing to continue"),
    (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "inside a fragmented"),
])
def test_frames_a_client_cannot_accept_raise(stream: bytes, problem: str) -> None:
    reader = Wire().reader()
    reader.feed(stream)
    with pytest.raises(WebSocketProtocolException, match=problem):
        whole_messages(reader)


def test_what_is_buffered_comes_out_before_more_is_fed_and_a_part_waits() -> None:
    """Every whole message buffered is handed out with no more bytes (the receiver reads a
    connection only when none is: what a stalled member has not read stays in the kernel);
    a frame's part waits in the buffer for the rest."""
    third = frame(TEXT, b"c")
    reader = Wire().reader()
    reader.feed(frame(TEXT, b"a") + frame(TEXT, b"b") + third[:2])
    assert reader.next_message() == (TEXT, b"a")
    assert reader.next_message() == (TEXT, b"b")
    assert reader.next_message() is None
    assert reader.buffered == 2
    reader.feed(third[2:])
    assert reader.next_message() == (TEXT, b"c")
    assert reader.buffered == 0


def test_an_ended_connection_raises_closed() -> None:
    reader = Wire().reader()
    reader.feed(frame(TEXT, b"whole") + frame(TEXT, b"cut short")[:4])
    assert whole_messages(reader) == [(TEXT, b"whole")]
    with pytest.raises(WebSocketConnectionClosedException):
        reader.feed(b"")


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1, (64 << 20) + 1])
def test_a_length_over_the_limit_is_refused_before_anything_more_is_fed(length: int) -> None:
    """Eight bytes of another frame read as a length must not allocate (or overflow): the
    header alone is refused, not waited on."""
    reader = Wire().reader()
    reader.feed(bytes([0x80 | TEXT, 127]) + struct.pack("!Q", length))
    with pytest.raises(WebSocketProtocolException, match="over this reader's limit"):
        reader.next_message()


def test_a_large_frame_is_asked_for_whole_and_taken_in_from_many_small_pieces() -> None:
    """Once a frame's length is known the reader asks for all it still lacks (at most
    MAX_RECV at a time), takes it in piece by piece and hands it out once, whole."""
    payload = os.urandom(MAX_RECV + 300_000)
    large = frame(BINARY, payload)
    stream = large + frame(TEXT, b"after")
    piece = RECV_SIZE // 4  # under what the reader asks: one feed per piece
    wire = Wire(*[stream[index:index + piece] for index in range(0, len(stream), piece)])
    reader = wire.reader()
    while (message := reader.next_message()) is None:
        if reader.buffered >= 10:  # the header is in
            assert min(len(large) - reader.buffered, MAX_RECV) <= reader.wanted() <= MAX_RECV
        wire.feed(reader)
    assert message == (BINARY, payload)
    assert wire.feeds == -(-len(large) // piece)
    assert read_all(wire, reader) == [(TEXT, b"after")]
