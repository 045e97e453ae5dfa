"""Bad input and abrupt disconnects never hurt the reference server."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from harness.net.httpget import get_json
from harness.target import TargetInfo, http_base
from tests.roomclient import PROTOCOL, RoomClient, sender_and_receiver

pytestmark = pytest.mark.integration

#: Every error code in docs/wire-protocol.md.
ERROR_CODES = {"bad_json", "unknown_type", "bad_field", "too_long", "already_joined",
               "member_taken", "not_in_room", "busy", "internal_error"}


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"room": "r"}', "unknown_type"),
        ('{"type": "join", "room": "r"}', "bad_field"),
        ('{"type": "join", "room": 7, "member": "m"}', "bad_field"),
        ('{"type": "join", "room": "", "member": "m"}', "bad_field"),
        (json.dumps({"type": "join", "room": "r" * 129, "member": "m"}), "too_long"),
        (json.dumps({"type": "join", "room": "r", "member": "m" * 129}), "too_long"),
        ('{"type": "broadcast", "room": "r", "id": 1, "body": "x", "sent_at": "now"}',
         "bad_field"),
        ('{"type": "broadcast", "room": "r", "id": true, "body": "x", "sent_at": 1}', "bad_field"),
        ('{"type": "broadcast", "room": "r", "id": 1, "body": "x", "sent_at": 1' + "0" * 400
         + "}", "bad_field"),
        ('{"type": "broadcast", "room": "nowhere", "id": 1, "body": "x", "sent_at": 1}',
         "not_in_room"),
        ('{"type": "leave", "room": "nowhere"}', "not_in_room"),
    ],
)
def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    naive_server: TargetInfo, frame: str, code: str
) -> None:
    async def scenario() -> None:
        client = await RoomClient.open(naive_server.url)
        reply = await client.request(frame, timeout=5)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert reply["detail"]
        await client.join("usable", f"m-{code}-{time.monotonic_ns()}")
        await client.close()

    _run(scenario())


def test_names_of_exactly_128_characters_are_accepted(naive_server: TargetInfo) -> None:
    async def scenario() -> None:
        client = await RoomClient.open(naive_server.url)
        await client.join("r" * 128, "m" * 128)
        await client.close()

    _run(scenario())


def test_duplicate_member_and_double_join_are_refused(naive_server: TargetInfo) -> None:
    async def scenario() -> None:
        first = await RoomClient.open(naive_server.url)
        second = await RoomClient.open(naive_server.url)
        await first.join("dup", "alice")
        reply = await second.request(PROTOCOL.join_frame("dup", "alice"))
        assert reply["code"] == "member_taken"
        reply = await first.request(PROTOCOL.join_frame("dup", "bob"))
        assert reply["code"] == "already_joined"
        await first.close()
        await second.close()

    _run(scenario())


def test_frame_over_64_kib_closes_with_1009(naive_server: TargetInfo) -> None:
    async def scenario() -> None:
        client = await RoomClient.open(naive_server.url)
        await client.send(json.dumps({"type": "broadcast", "room": "r", "id": 1,
                                      "body": "x" * 70_000, "sent_at": 1}))
        await asyncio.wait_for(client._receiver, 5)
        assert client.close_code == 1009

    _run(scenario())


def test_unknown_ack_is_ignored_and_broadcast_reaches_others(naive_server: TargetInfo) -> None:
    async def scenario() -> None:
        async with sender_and_receiver(naive_server.url, "acks") as (sender, receiver):
            await sender.send({"type": "ack", "id": "never-sent"})
            reply = await sender.request(PROTOCOL.broadcast_frame("acks", "m1", {"k": 1}, 12.5))
            assert reply == {"type": "broadcasted", "room": "acks", "id": "m1", "recipients": 1}
            [message] = receiver.messages
            assert message == {"type": "message", "room": "acks", "id": "m1", "from": "sender",
                               "body": {"k": 1}, "sent_at": 12.5, "seq": 1}

    _run(scenario())


def test_abrupt_disconnect_mid_broadcast_fails_pending_sends_at_once(
    naive_server: TargetInfo,
) -> None:
    """A member that vanishes without a close frame must not stall a broadcast
    for the whole send timeout (2 s for this server)."""

    async def scenario() -> None:
        sender = await RoomClient.open(naive_server.url)
        # This member never acks: it only reads, then its TCP connection is cut.
        silent = await connect(naive_server.url)
        await sender.join("abrupt", "sender")
        await silent.send(PROTOCOL.join_frame("abrupt", "silent"))
        await silent.recv()  # joined
        await sender.broadcast("abrupt", "b1")
        await silent.recv()  # the message is out; the server now waits for the ack
        started = time.monotonic()
        silent.transport.abort()  # no close frame
        reply = await sender.reply(5)
        elapsed = time.monotonic() - started
        assert reply["type"] == "broadcasted"
        assert elapsed < 1.0, f"broadcast waited {elapsed:.2f} s for a dead member"
        # The dead member is gone from the room: its name can be taken again.
        other = await RoomClient.open(naive_server.url)
        await other.join("abrupt", "silent")
        await sender.close()
        await other.close()

    _run(scenario())


def test_http_endpoints(naive_server: TargetInfo) -> None:
    base = http_base(naive_server.url)
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        assert response.status == 200
    assert isinstance(get_json(f"{base}/debug/locks"), list)
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    for name in ("roomserver_rooms", "roomserver_members", "roomserver_outbox_depth",
                 "roomserver_slow_consumer_disconnects_total", "roomserver_lock_reports_total"):
        assert f"\n{name}" in f"\n{text}", name


# NaN, Infinity (json.dumps writes both), integers of any size and deep nesting are in on
# purpose: the server must answer them with an error frame, never relay or choke on them.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
nested = st.builds(lambda depth, opener, closer: opener * depth + closer * depth,
                   st.integers(0, 2000), st.sampled_from(["[", '{"a":']),
                   st.sampled_from(["]", "}"]))
frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    json_values.map(json.dumps),
    nested,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["join", "leave", "broadcast", "ack", "message", ""])},
        optional={"room": json_values | st.text(max_size=140), "member": json_values,
                  "id": json_values, "body": json_values, "sent_at": json_values},
    ).map(json.dumps),
    st.builds(lambda body: '{"type":"broadcast","room":"r","id":1,"sent_at":1,"body":'
              + body + "}", nested.filter(lambda text: text.count("[") == text.count("]"))),
)


def _strict(raw: str | bytes) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"the server sent {token}, which is not JSON")

    return json.loads(raw, parse_constant=refuse)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_random_frames_never_break_the_server(naive_server: TargetInfo, batch: list[str]) -> None:
    """After any frames, the same connection still answers, in strict JSON; so do others."""

    async def scenario() -> None:
        room = f"fuzz-{time.monotonic_ns()}"
        async with connect(naive_server.url) as websocket:
            for frame in batch:
                await websocket.send(frame)
            await websocket.send(json.dumps({"type": "join", "room": room, "member": "m"}))
            while True:
                reply = _strict(await asyncio.wait_for(websocket.recv(), 5))
                assert reply["type"] in ("error", "joined", "left", "broadcasted"), reply
                if reply["type"] == "error":
                    assert reply["code"] in ERROR_CODES and reply["detail"], reply
                if reply == {"type": "joined", "room": room, "member": "m", "members": 1}:
                    break
        client = await RoomClient.open(naive_server.url)
        latency = await client.join(room, "checker")
        assert latency < 5
        await client.close()

    _run(scenario())
