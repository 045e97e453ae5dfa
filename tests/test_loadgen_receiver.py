"""The process's one reader of members' sockets (harness.loadgen.receiver), over gevent socket
pairs: the test writes what a server would, the receiver reads the other ends."""

from __future__ import annotations

import fcntl
import struct
import subprocess
import sys
import termios
import textwrap
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.socket
import gevent.ssl
import gevent.thread
import pytest
import trustme
from websocket import ABNF, WebSocket, WebSocketConnectionClosedException

from harness.loadgen.receiver import Receiver

TEXT, CLOSE, PING, PONG = (ABNF.OPCODE_TEXT, ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING,
                           ABNF.OPCODE_PONG)


def frame(opcode: int, payload: bytes) -> bytes:
    """A short unmasked frame, as a server writes it."""
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (masked) frames a client wrote, unmasked: ``(opcode, payload)``."""
    frames = []
    while data:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        assert data[1] & 0x80 and length < 126
        mask, payload = data[2:6], data[6:6 + length]
        frames.append((opcode, ABNF.mask(mask, payload)))
        data = data[6 + length:]
    return frames


def queued(sock: Any) -> int:
    answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return int(struct.unpack("i", answer)[0])


class Member:
    """One connection: the member's end read by the receiver, the server's end by the test."""

    def __init__(self, receiver: Receiver) -> None:
        self.server, client = gevent.socket.socketpair()
        self.ws = WebSocket(skip_utf8_validation=True)
        self.ws.sock, self.ws.connected = client, True
        self.ws.lock = gevent.thread.allocate_lock()  # as under Locust's monkey-patching
        self.messages: list[tuple[int, bytes]] = []
        self.ends: list[BaseException] = []
        self.reading = receiver.watch(self.ws, self.on_message, self.ends.append)

    def on_message(self, opcode: int, payload: bytes) -> None:
        self.messages.append((opcode, payload))

    def close(self) -> None:
        self.reading.close()
        self.server.close()
        if self.ws.sock is not None:
            self.ws.sock.close()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def members(receiver: Receiver) -> Iterator[list[Member]]:
    made = [Member(receiver) for _ in range(20)]
    yield made
    for member in made:
        member.close()


def settle(until: Any, timeout: float = 2.0) -> None:
    """Let the loop run until ``until()`` holds (a deadline only bounds a failure)."""
    with gevent.Timeout(timeout):
        while not until():
            gevent.sleep(0.001)


def test_every_socket_ready_in_one_loop_iteration_is_read_in_one_batch(
        receiver: Receiver, members: list[Member]) -> None:
    gevent.sleep(0)  # the receiver waits for its first batch
    before = receiver.batches
    for index, member in enumerate(members):
        member.server.sendall(frame(TEXT, f"a{index}".encode()) + frame(TEXT, f"b{index}".encode()))
    settle(lambda: all(len(member.messages) == 2 for member in members))
    assert receiver.batches == before + 1
    assert [member.messages for member in members] == [
        [(TEXT, f"a{index}".encode()), (TEXT, f"b{index}".encode())]
        for index in range(len(members))]


def test_a_paused_member_reads_nothing_while_the_others_read_on(
        receiver: Receiver, members: list[Member]) -> None:
    stalled, other = members[0], members[1]
    stalled.reading.pause()
    for count in range(5):
        stalled.server.sendall(frame(TEXT, b"held %d" % count))
        other.server.sendall(frame(TEXT, b"read %d" % count))
        settle(lambda count=count: len(other.messages) == count + 1)
    assert stalled.messages == []
    assert stalled.ws.sock is not None
    assert queued(stalled.ws.sock) == 5 * len(frame(TEXT, b"held 0"))  # all in the kernel
    stalled.reading.resume()
    settle(lambda: len(stalled.messages) == 5)
    assert stalled.messages == [(TEXT, b"held %d" % count) for count in range(5)]


def test_resume_parses_what_was_read_before_the_pause_first(
        receiver: Receiver, members: list[Member]) -> None:
    """A pause between two messages of one ``recv``: the second stays in the member's buffer,
    unparsed, and nothing more is read until the resume."""
    member = members[0]

    def pause_after_first(opcode: int, payload: bytes) -> None:
        member.messages.append((opcode, payload))
        if payload == b"first":
            member.reading.pause()

    member.reading._message = pause_after_first
    member.server.sendall(frame(TEXT, b"first") + frame(TEXT, b"second"))
    settle(lambda: member.messages != [])
    member.server.sendall(frame(TEXT, b"third"))
    gevent.sleep(0.05)
    assert member.messages == [(TEXT, b"first")]
    assert member.reading.reader.buffered == len(frame(TEXT, b"second"))
    reads = receiver.reads
    member.reading.resume()
    settle(lambda: len(member.messages) == 3)
    assert member.messages[1:] == [(TEXT, b"second"), (TEXT, b"third")]
    assert receiver.reads > reads


@pytest.mark.parametrize("cut", [0, 1, 3])
def test_an_eof_mid_frame_ends_the_connection_once(
        receiver: Receiver, members: list[Member], cut: int) -> None:
    member = members[0]
    member.server.sendall(frame(TEXT, b"whole") + frame(TEXT, b"cut short")[:cut])
    member.server.close()
    settle(lambda: member.ends != [])
    gevent.sleep(0.05)
    assert member.messages == [(TEXT, b"whole")]
    assert len(member.ends) == 1 and isinstance(member.ends[0], WebSocketConnectionClosedException)
    assert not member.reading.active


def test_an_error_in_the_members_handler_ends_only_that_connection(
        receiver: Receiver, members: list[Member]) -> None:
    broken, other = members[0], members[1]

    def fail(opcode: int, payload: bytes) -> None:
        raise RuntimeError("a bug")

    broken.reading._message = fail
    broken.server.sendall(frame(TEXT, b"x"))
    other.server.sendall(frame(TEXT, b"y"))
    settle(lambda: broken.ends != [] and other.messages != [])
    assert str(broken.ends[0]) == "a bug" and not broken.reading.active
    other.server.sendall(frame(TEXT, b"z"))
    settle(lambda: len(other.messages) == 2)


def test_pings_are_answered_and_a_close_is_answered_and_handed_on(
        receiver: Receiver, members: list[Member]) -> None:
    member = members[0]
    member.server.sendall(frame(PING, b"p1") + frame(TEXT, b"m") + frame(CLOSE, b"\x03\xe8bye"))
    settle(lambda: len(member.messages) == 2)
    assert member.messages == [(TEXT, b"m"), (CLOSE, b"\x03\xe8bye")]
    member.server.settimeout(2.0)
    assert client_frames(member.server.recv(100)) == [(PONG, b"p1"), (CLOSE, b"\x03\xe8")]
    assert not member.ws.connected


def test_a_send_soon_waits_behind_a_send_in_progress_without_blocking_the_caller(
        members: list[Member]) -> None:
    """While the member's own send holds the lock, the receiver's frame is sent after it,
    from a greenlet of its own; frames never interleave."""
    member = members[0]
    member.ws.lock.acquire()
    member.reading.send_soon(b"ack", TEXT)  # returns at once
    gevent.sleep(0.05)
    assert queued(member.server) == 0
    member.ws.lock.release()
    member.server.settimeout(2.0)
    assert client_frames(member.server.recv(100)) == [(TEXT, b"ack")]


def test_a_send_soon_finishes_a_frame_the_kernel_took_only_in_part(members: list[Member]) -> None:
    member = members[0]
    sock = member.ws.sock
    assert sock is not None
    sock.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
    payload = b"x" * 2_000_000
    member.reading.send_soon(payload, ABNF.OPCODE_BINARY)
    assert member.ws.lock.locked()  # the rest goes on from a greenlet, holding the lock
    received = bytearray()
    member.server.settimeout(5.0)
    while len(received) < len(payload) + 14:
        received += member.server.recv(1 << 20)
    assert received[0] == 0x80 | ABNF.OPCODE_BINARY and received[1] == 0x80 | 127
    assert ABNF.mask(bytes(received[10:14]), bytes(received[14:])) == payload
    settle(lambda: not member.ws.lock.locked())


@pytest.mark.parametrize("how", ["on_end raises", "on_message raises a BaseException"])
def test_a_member_whose_callbacks_fail_stops_no_other_member(
        receiver: Receiver, members: list[Member], how: str) -> None:
    # The receiver is every member's: one member's failure must not end it for the rest.
    broken, others = members[0], members[1:4]
    if how == "on_end raises":
        def end(error: BaseException) -> None:
            raise RuntimeError("a bug while ending")

        def fail(opcode: int, payload: bytes) -> None:
            raise RuntimeError("a bug")

        broken.reading._end, broken.reading._message = end, fail
    else:
        def timeout(opcode: int, payload: bytes) -> None:
            raise gevent.Timeout()  # a BaseException, not an Exception

        broken.reading._message = timeout
    # The broken one first in the batch, the others after it.
    broken.server.sendall(frame(TEXT, b"x"))
    gevent.sleep(0)
    for other in others:
        other.server.sendall(frame(TEXT, b"y"))
    settle(lambda: all(other.messages for other in others))
    assert not broken.reading.active
    for other in others:
        other.server.sendall(frame(TEXT, b"z"))
    settle(lambda: all(len(other.messages) == 2 for other in others))


def test_frames_sent_soon_keep_their_order_while_one_waits(members: list[Member]) -> None:
    member = members[0]
    member.ws.lock.acquire()
    member.reading.send_soon(b"A", TEXT)  # waits for the lock, in the outbox
    member.ws.lock.release()  # free again before the outbox's greenlet ran
    member.reading.send_soon(b"B", TEXT)  # must not overtake A
    member.reading.send_soon(b"C", TEXT)
    member.server.settimeout(2.0)
    received = b""
    while len(client_frames_prefix(received)) < 3:
        received += member.server.recv(100)
    assert client_frames(received) == [(TEXT, b"A"), (TEXT, b"B"), (TEXT, b"C")]


def test_a_send_on_a_closed_reading_fails_and_sends_nothing(members: list[Member]) -> None:
    """The outbox is the reading's: once the member stops reading the connection (it closes),
    nothing more goes out on it, as when its socket is gone."""
    member = members[0]
    member.reading.close()
    with pytest.raises(WebSocketConnectionClosedException):
        member.reading.send_soon(b"late", TEXT)
    assert queued(member.server) == 0


def test_a_members_answer_goes_through_its_reading_and_fails_without_one() -> None:
    """RoomUser sends its acks and its protocol's answers through the reading of the
    connection they answer: none (not connected) or another's (connected again since) fails
    as a closed connection does. In a process of its own: importing Locust monkey-patches."""
    script = textwrap.dedent("""
        import gevent.socket, gevent.thread
        from websocket import WebSocket, WebSocketConnectionClosedException
        from harness.loadgen.receiver import Receiver
        from harness.loadgen.user import RoomUser

        def connection():
            server, client = gevent.socket.socketpair()
            ws = WebSocket(skip_utf8_validation=True)
            ws.sock, ws.connected, ws.lock = client, True, gevent.thread.allocate_lock()
            return server, ws

        server, ws = connection()
        _, other = connection()
        user = RoomUser.__new__(RoomUser)  # only its reading matters here
        for reading in (None, Receiver().watch(other, print, print)):
            user._reading = reading
            try:
                user._send_soon(ws, "ack")
            except WebSocketConnectionClosedException as exc:
                print("closed:", exc)
        user._reading = Receiver().watch(ws, print, print)
        user._send_soon(ws, "ack")
        user._send_soon(ws, b"binary")
        server.settimeout(5)
        print(server.recv(100).hex())
        """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == ["closed: socket is already closed."] * 2
    assert client_frames(bytes.fromhex(lines[2])) == [(TEXT, b"ack"),
                                                      (ABNF.OPCODE_BINARY, b"binary")]


def client_frames_prefix(data: bytes) -> list[tuple[int, bytes]]:
    """The whole client frames at the start of ``data``."""
    whole = 0
    while len(data) - whole >= 2 and len(data) - whole >= 6 + (data[whole + 1] & 0x7F):
        whole += 6 + (data[whole + 1] & 0x7F)
    return client_frames(data[:whole])


def test_a_members_backlog_is_read_in_slices_between_the_others(
        receiver: Receiver, members: list[Member], monkeypatch: pytest.MonkeyPatch) -> None:
    # A slice of 0: every message ends the member's turn, so the others' come in between,
    # and the backlog's frames stay in order.
    monkeypatch.setattr("harness.loadgen.receiver.SLICE_S", 0.0)
    order: list[bytes] = []
    backlog, other = members[0], members[1]

    def backlog_message(opcode: int, payload: bytes) -> None:
        order.append(payload)
        if payload == b"b0":  # the other member's frame comes while the backlog is read
            other.server.sendall(frame(TEXT, b"other"))

    backlog.reading._message = backlog_message
    other.reading._message = lambda opcode, payload: order.append(payload)
    backlog.server.sendall(b"".join(frame(TEXT, b"b%d" % index) for index in range(50)))
    settle(lambda: len(order) == 51)
    assert [payload for payload in order if payload != b"other"] == [
        b"b%d" % index for index in range(50)]
    assert order.index(b"other") < 5


def test_a_tls_connection_is_read_and_a_peer_gone_without_close_notify_is_its_end(
        receiver: Receiver) -> None:
    # TLS: the receiver reads the decrypted stream; a server that drops TCP without TLS's
    # close_notify ends the connection as an EOF does (gevent's own recv says so too).
    ca = trustme.CA()
    # gevent's contexts make gevent's sockets, as Locust's monkey-patching does.
    server_context = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = gevent.spawn(lambda: server_context.wrap_socket(listener.accept()[0],
                                                               server_side=True))
    with gevent.Timeout(5):
        client = client_context.wrap_socket(gevent.socket.create_connection(
            listener.getsockname()), server_hostname="localhost")
        server = accepted.get()
    ws = WebSocket(skip_utf8_validation=True)
    ws.sock, ws.connected, ws.lock = client, True, gevent.thread.allocate_lock()
    messages: list[tuple[int, bytes]] = []
    ends: list[BaseException] = []
    reading = receiver.watch(ws, lambda opcode, payload: messages.append((opcode, payload)),
                             ends.append)
    try:
        # Two records, then many frames in one: the decrypted rest is read without a wake.
        server.sendall(frame(TEXT, b"one"))
        server.sendall(frame(TEXT, b"two") + b"".join(frame(TEXT, b"m%d" % index)
                                                      for index in range(200)))
        settle(lambda: len(messages) == 202)
        assert messages[:3] == [(TEXT, b"one"), (TEXT, b"two"), (TEXT, b"m0")]
        server.shutdown(gevent.socket.SHUT_RDWR)  # no close_notify: a ragged end
        settle(lambda: ends != [])
        assert isinstance(ends[0], WebSocketConnectionClosedException), ends
        assert not reading.active
    finally:
        reading.close()
        server.close()
        client.close()
        listener.close()
