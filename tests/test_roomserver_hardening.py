"""The reference server under hostile or broken clients (one test per known failure).

Each test starts the real server and talks to it over real WebSockets or raw
sockets on 127.0.0.1. Only ``test_unexpected_error_in_a_command_is_answered_and_logged``
runs the server in-process, with a mode that fails on purpose.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import socket
import struct
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websocket  # websocket-client: a blocking client that reads only when told to
from websockets.asyncio.client import connect

import lockwatch
from harness.protocols import Delivered, Joined
from harness.rig.launched import ReferenceTarget
from harness.target import TargetInfo, http_base
from targets.roomserver.context import ServerContext
from targets.roomserver.modes import MODES
from targets.roomserver.server import RoomServer, listening_port
from tests.roomclient import PROTOCOL, RoomClient, sender_and_receiver

pytestmark = pytest.mark.integration


def _metric(url: str, name: str) -> float | None:
    """The value of an unlabelled metric on the server's ``/metrics``, or ``None``."""
    with urllib.request.urlopen(f"{http_base(url)}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^roomserver_{name} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match[1])


def _wait_for_metric(url: str, name: str, value: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while True:
        seen = _metric(url, name)
        if seen == value or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


@pytest.fixture
def target(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ReferenceTarget]:
    """A server of its own; ``@pytest.mark.parametrize("target", [(mode, timeout)], indirect)``."""
    mode, send_timeout = request.param
    server = ReferenceTarget(mode, tmp_path, send_timeout=send_timeout)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _url(target: ReferenceTarget) -> str:
    assert target.info is not None
    return target.info.url


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _broadcast(room: str, body: str, sent_at: str = "1", message_id: str = "1") -> str:
    """A broadcast frame with ``body``, ``sent_at`` and ``message_id`` as raw JSON text."""
    return ('{"type":"broadcast","room":' + json.dumps(room) + ',"id":' + message_id
            + ',"body":' + body + ',"sent_at":' + sent_at + "}")


# 1. Deep nesting is bad_json, never a 1011 close.

@pytest.mark.parametrize(
    "frame",
    [
        "[" * 1000 + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        '{"type":"join","room":"r","member":"m","x":' + _nested(990) + "}",
        "[" * 50_000,  # not even closed
    ],
    ids=["array-1000", "object-1000", "join-with-deep-extra", "unclosed-50000"],
)
def test_deep_nesting_is_bad_json_not_a_close(naive_server: TargetInfo, frame: str) -> None:
    async def scenario() -> None:
        client = await RoomClient.open(naive_server.url)
        reply = await client.request(frame, timeout=5)
        assert reply["type"] == "error" and reply["code"] == "bad_json", reply
        assert "deep" in reply["detail"], reply
        await client.join("usable", f"deep-{time.monotonic_ns()}")
        await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("depth", [99, 100, 978])
def test_bodies_nested_up_to_the_limit_are_relayed_deeper_ones_refused(
    naive_server: TargetInfo, depth: int
) -> None:
    """The frame object is level 1, so a body may nest 99 levels; one more is bad_json.

    A refused body leaves the connection answering commands (see 2. below): a body
    nested 978 levels used to parse, fail to re-encode and kill the worker.
    """

    async def scenario() -> None:
        room = f"depth-{depth}-{time.monotonic_ns()}"
        async with sender_and_receiver(naive_server.url, room) as (sender, receiver):
            reply = await sender.request(_broadcast(room, _nested(depth)), timeout=5)
            if depth <= 99:
                assert reply["type"] == "broadcasted", reply
                assert receiver.messages[0]["body"] == json.loads(_nested(depth))
                return
            assert reply["type"] == "error" and reply["code"] == "bad_json", reply
            # The connection still answers commands.
            reply = await sender.request(PROTOCOL.broadcast_frame(room, 2, "x", 1), timeout=5)
            assert reply["type"] == "broadcasted" and reply["recipients"] == 1, reply
            await sender.leave(room)

    asyncio.run(scenario())


# 2. No input silences a connection (a refused body does not either: see above).

def test_unexpected_error_in_a_command_is_answered_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever fails inside a command, the worker lives on: an error frame, one log record."""

    async def broken(*args: Any) -> int:
        raise RuntimeError("the mode broke on purpose")

    monkeypatch.setitem(MODES, "broken", broken)

    async def scenario() -> None:
        context = ServerContext(mode="broken", send_timeout=2.0, outbox_size=8)
        room_server = RoomServer(context, lockwatch.MemorySink())
        async with room_server.serve("127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{listening_port(server)}/ws"
            client = await RoomClient.open(url)
            await client.join("room", "alice")
            reply = await client.request(PROTOCOL.broadcast_frame("room", 1, "x", 1), timeout=5)
            assert reply["type"] == "error" and reply["code"] == "internal_error", reply
            assert reply["detail"]
            await client.leave("room")  # the worker still runs commands
            await client.close()

    with caplog.at_level(logging.ERROR, logger="roomserver"):
        asyncio.run(scenario())
    errors = [record for record in caplog.records
              if record.name == "roomserver" and record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert errors[0].exc_info is not None
    assert "broke on purpose" in caplog.text


# 3. NaN and Infinity are not JSON.

@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"])
@pytest.mark.parametrize("where", ["body", "nested-body", "sent_at"])
def test_non_finite_numbers_are_bad_field(
    naive_server: TargetInfo, number: str, where: str
) -> None:
    async def scenario() -> None:
        room = f"nan-{time.monotonic_ns()}"
        async with sender_and_receiver(naive_server.url, room) as (sender, receiver):
            body = {"body": number, "nested-body": '{"a":[1,' + number + "]}"}.get(where, '"x"')
            frame = _broadcast(room, body, sent_at=number if where == "sent_at" else "1")
            reply = await sender.request(frame, timeout=5)
            assert reply["type"] == "error" and reply["code"] == "bad_field", reply
            await asyncio.sleep(0.1)
            assert receiver.raw_messages == []

    asyncio.run(scenario())


# 4. sent_at passes unchanged; what the server sends.

@pytest.mark.parametrize(
    "sent_at",
    ["1764582000", "12345678901234567890", "1764582000.250", "1.7645820E9", "-0", "0.0000001",
     "1764582000.1234567890123456789"],
)
def test_sent_at_is_passed_on_exactly_as_it_came(naive_server: TargetInfo, sent_at: str) -> None:
    async def scenario() -> None:
        room = f"sent-at-{time.monotonic_ns()}"
        async with sender_and_receiver(naive_server.url, room) as (sender, receiver):
            frame = _broadcast(room, '"x"', sent_at=sent_at)
            reply = await sender.request(frame, timeout=5)
            assert reply["type"] == "broadcasted", reply
            [raw] = receiver.raw_messages
            assert isinstance(raw, str)
            assert f'"sent_at":{sent_at},' in raw, raw

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("encoding", "reply_type"),
    [("utf-8", "joined"), ("utf-16", "error"), ("utf-16-le", "error"), ("utf-32", "error"),
     ("utf-8-sig", "error")],
)
def test_binary_frames_must_be_utf8(
    naive_server: TargetInfo, encoding: str, reply_type: str
) -> None:
    async def scenario() -> None:
        client = await RoomClient.open(naive_server.url)
        frame = json.dumps({"type": "join", "room": "bin", "member": f"é-{time.monotonic_ns()}"})
        reply = await client.request(frame.encode(encoding), timeout=5)
        assert reply["type"] == reply_type, reply
        if reply_type == "error":
            assert reply["code"] == "bad_json", reply
        await client.close()

    asyncio.run(scenario())


def _fill(overhead: int, kind: str) -> str:
    """A body that brings a frame of ``overhead`` bytes without it to just under 64 KiB."""
    room = 64 * 1024 - overhead
    if kind == "two-byte-characters":  # each one becomes \\u00e9, 6 bytes
        return '"' + "é" * ((room - 2) // 2) + '"'
    return "[" + ",".join(["1e15"] * ((room - 1) // 5)) + "]"  # each becomes 18 bytes


@pytest.mark.parametrize("kind", ["two-byte-characters", "numbers-that-grow"])
def test_server_frames_grow_past_64_kib_but_stay_within_256_kib(
    naive_server: TargetInfo, kind: str
) -> None:
    """docs/wire-protocol.md: the server's frames can be up to 4 x 64 KiB (non-ASCII is escaped)."""

    async def scenario() -> None:
        room = str(time.monotonic_ns()).ljust(128, "r")
        sender_name = "\U0001f600" * 128  # 12 bytes each in the message frame
        async with sender_and_receiver(naive_server.url, room, sender_name) as (sender, receiver):
            message_id = json.dumps("i" * 50)
            frame = _broadcast(room, _fill(len(_broadcast(room, "", message_id=message_id)), kind),
                               message_id=message_id)
            assert 64 * 1024 - 10 < len(frame.encode()) <= 64 * 1024
            reply = await sender.request(frame, timeout=10)
            assert reply["type"] == "broadcasted", reply
            [raw] = receiver.raw_messages
            assert isinstance(raw, str) and raw.isascii()
            assert 3 * 64 * 1024 <= len(raw) <= 256 * 1024, len(raw)

    asyncio.run(scenario())


# 5. Failed deliveries are counted in every mode.

@pytest.mark.parametrize("target", [("fixed", 1.0), ("spawn", 1.0), ("naive", 1.0)],
                         indirect=True, ids=["fixed", "spawn", "naive"])
def test_failed_deliveries_are_counted(target: ReferenceTarget) -> None:
    url = _url(target)

    async def scenario() -> None:
        sender = await RoomClient.open(url)
        await sender.join("acks", "sender")
        async with connect(url) as silent:  # reads everything, acks nothing
            await silent.send(PROTOCOL.join_frame("acks", "silent"))
            await silent.recv()
            for index in range(5):
                reply = await sender.request(
                    PROTOCOL.broadcast_frame("acks", index, "x", time.time()))
                assert reply["type"] == "broadcasted", reply
            seen = await asyncio.to_thread(
                _wait_for_metric, url, "delivery_failures_total", 5, 20.0)
            assert seen == 5, f"delivery_failures_total is {seen}, expected 5"
            received = 0
            while received < 5:  # they did arrive: only the acks were missing
                event = PROTOCOL.classify(await asyncio.wait_for(silent.recv(), 5))
                received += isinstance(event, Delivered)
        await sender.close()

    asyncio.run(scenario())
    log = target.process.log_path.read_text()
    assert log.count("delivery failed") == 5, log


# 6. The send timeout bounds the write too.

@pytest.mark.parametrize("target", [("naive", 0.2)], indirect=True)
def test_send_timeout_bounds_the_write_to_a_member_that_never_reads(
    target: ReferenceTarget,
) -> None:
    url = _url(target)
    # This member joins, then never reads again: the server's writes to it block.
    stuck = websocket.create_connection(
        url, timeout=5, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    stuck.send(PROTOCOL.join_frame("stall", "stuck"))
    assert isinstance(PROTOCOL.classify(stuck.recv()), Joined)

    async def broadcaster(index: int, stop_at: float) -> list[float]:
        client = await RoomClient.open(url)
        await client.join("stall", f"sender-{index}")
        took: list[float] = []
        sequence = 0
        while time.monotonic() < stop_at:
            sequence += 1
            body = os.urandom(30_000).hex()  # 60 KB, fresh: compression cannot shrink it
            started = time.monotonic()
            try:
                reply = await client.request(PROTOCOL.broadcast_frame(
                    "stall", f"{index}-{sequence}", body, time.time()), timeout=10)
            except TimeoutError:
                raise AssertionError(
                    f"a broadcast was not answered within 10 s (after {sequence - 1} answered); "
                    "the write to the stuck member is not bounded by the send timeout") from None
            took.append(time.monotonic() - started)
            assert reply["type"] == "broadcasted", reply
        await client.close()
        return took

    async def scenario() -> list[float]:
        stop_at = time.monotonic() + 15
        results = await asyncio.gather(*(broadcaster(index, stop_at) for index in range(3)))
        return [seconds for took in results for seconds in took]

    try:
        took = asyncio.run(scenario())
    finally:
        stuck.close(timeout=1)
    # Enough went to the stuck member to fill every buffer on the way: without a bound on
    # the write, a broadcast blocked for good after about 15 of them (1 MB).
    assert len(took) >= 50, f"only {len(took)} broadcasts"
    # Each broadcast waits for the stuck member at most about the send timeout.
    assert max(took) < 3.0, f"slowest broadcast {max(took):.1f} s (send timeout 0.2 s)"
    failures = _metric(url, "delivery_failures_total")
    assert failures is not None and failures >= 1


# 7. A client that does not read cannot grow the server's memory.

def _ping_frame(payload: bytes) -> bytes:
    # Client frames are masked; a zero mask keeps the payload as it is.
    return struct.pack("!BB", 0x89, 0x80 | len(payload)) + b"\0\0\0\0" + payload


def test_ping_flood_without_reading_is_closed_and_memory_stays_bounded(tmp_path: Path) -> None:
    target = ReferenceTarget("naive", tmp_path)
    with target as info:
        server = psutil.Process(target.process.pid)
        baseline = server.memory_info().rss
        flooder = websocket.create_connection(
            info.url, timeout=2, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        sock = flooder.sock
        assert sock is not None
        batch = _ping_frame(b"p" * 125) * 2000
        peak = baseline
        stopped_by: str | None = None
        started = time.monotonic()
        try:
            while time.monotonic() - started < 15:
                try:
                    sock.sendall(batch)
                except OSError as exc:  # the server stopped reading, or closed
                    stopped_by = type(exc).__name__
                    break
                peak = max(peak, server.memory_info().rss)
        finally:
            sock.close()
        grown_mib = (peak - baseline) / 2**20
        assert stopped_by is not None, (
            f"15 s of pings were all read; server RSS grew {grown_mib:.0f} MiB")
        closed = _wait_for_metric(info.url, "output_limit_disconnects_total", 1, 15.0)
        assert closed == 1, f"output_limit_disconnects_total is {closed}"
        assert grown_mib < 64, f"server RSS grew {grown_mib:.0f} MiB under a ping flood"
        with urllib.request.urlopen(f"{http_base(info.url)}/healthz", timeout=5) as response:
            assert response.status == 200


# 8. The HTTP endpoints answer GET only.

@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "HEAD"])
@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/debug/locks"])
def test_http_endpoints_refuse_other_methods_with_405(
    naive_server: TargetInfo, path: str, method: str
) -> None:
    connection = http.client.HTTPConnection(naive_server.host, naive_server.port, timeout=5)
    try:
        connection.request(method, path, headers={"Content-Length": "0"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 405, (method, path, response.status)
    assert response.getheader("Allow") == "GET"


@pytest.mark.parametrize("headers", ["Content-Length: 5", "Transfer-Encoding: chunked"])
def test_http_request_with_a_body_gets_no_answer(naive_server: TargetInfo, headers: str) -> None:
    """websockets 17.4 reads no request bodies: it closes the connection before our code runs."""
    with socket.create_connection((naive_server.host, naive_server.port), timeout=5) as sock:
        sock.sendall(f"POST /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\nhello".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer == b"", answer
