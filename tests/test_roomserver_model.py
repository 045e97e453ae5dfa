"""Random frame sequences over several connections, each reply checked against
docs/wire-protocol.md.

Hypothesis draws steps: which connection sends what (join, leave, broadcast,
ack, garbage). Broadcasts carry bodies nested up to 1200 levels, NaN and
Infinity, integers of up to 6000 digits, and ``sent_at`` in many spellings.
A small model of the rooms says what the doc promises for each step: the
reply (or none), every ``message`` frame each member gets, with ``sent_at``
as the sender wrote it and ``seq`` counting up per connection. Every frame the
server sends must be strict JSON (no NaN), ASCII, and at most 256 KiB.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.target import TargetInfo
from targets.roomserver.protocol import ProtocolError, parse_frame

pytestmark = pytest.mark.integration

#: docs/wire-protocol.md: the frame object is level 1; deeper than this is bad_json.
MAX_DEPTH = 100
#: docs/wire-protocol.md: the server's frames are at most this long.
MAX_SERVER_FRAME = 256 * 1024
#: docs/wire-protocol.md: every error code.
ERROR_CODES = {"bad_json", "unknown_type", "bad_field", "too_long", "already_joined",
               "member_taken", "not_in_room", "busy", "internal_error"}
CONNECTIONS = 3
ROOMS = 2
MEMBERS = 3


def _strict_json(text: str | bytes) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"the server sent {token}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


# Strategies.

leaves = (st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` 4 times in 5, else ``rare``: most steps must be valid to reach deep states."""
    return st.integers(0, 4).flatmap(lambda pick: rare if pick == 0 else usual)


#: Nesting around a body: shallow, around the limit, and where the parser used to break.
depths = _mostly(st.integers(0, 4), st.integers(MAX_DEPTH - 4, MAX_DEPTH + 2)
                 | st.integers(900, 1200))
#: Numbers the doc refuses with bad_field, wherever they are.
poisons = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1E999"]) | st.integers(
    4301, 6000).map(lambda digits: "7" * digits)
#: Spellings of a good sent_at: passed on exactly as written.
good_sent_at = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,2})?",
                  fullmatch=True),
    st.just("12345678901234567890"),
    st.just("1764582000"),
)
bad_sent_at = st.one_of(st.sampled_from(['"now"', "true", "null", "[1]", "1" + "0" * 400]),
                        poisons)
message_ids = st.text(max_size=10) | st.integers(min_value=-(10**30), max_value=10**30)


@dataclass(frozen=True)
class Join:
    room: int
    member: int
    too_long: bool = False


@dataclass(frozen=True)
class Leave:
    room: int


@dataclass(frozen=True)
class Broadcast:
    room: int
    id: str | int
    body: Any
    depth: int  # extra levels of arrays around body
    poison: str | None  # a refused number placed next to body
    sent_at: str | None  # JSON text; None: missing
    sent_at_ok: bool


@dataclass(frozen=True)
class Ack:
    id: Any


@dataclass(frozen=True)
class Garbage:
    frame: str | bytes


joins = st.builds(Join, st.integers(0, ROOMS - 1), st.integers(0, MEMBERS - 1),
                  st.sampled_from([False] * 9 + [True]))
broadcasts = st.builds(
    lambda room, mid, body, depth, poison, sent_at: Broadcast(
        room, mid, body, depth, poison, sent_at[0], sent_at[1]),
    st.sampled_from([0, 0, 1]), message_ids, json_values, depths, _mostly(st.none(), poisons),
    _mostly(good_sent_at.map(lambda text: (text, True)),
            bad_sent_at.map(lambda text: (text, False)) | st.just((None, False))),
)
garbage = st.builds(
    Garbage,
    st.text(max_size=60).filter(lambda text: not text.lstrip().startswith("{"))
    | st.binary(max_size=60).filter(lambda data: not data.lstrip().startswith(b"{"))
    | st.sampled_from(["{}", '{"type":"message"}', '{"type":""}', '{"type":7}',
                       '{"type":"join","room":""}', "[" * 60_000]),
)
#: Broadcasts three times as often as each other kind of step.
actions = st.one_of(joins, st.builds(Leave, st.integers(0, ROOMS - 1)),
                    broadcasts, broadcasts, broadcasts,
                    st.builds(Ack, message_ids | json_values), garbage)
#: Each connection first joins room 0, then anything goes.
steps = st.lists(st.tuples(st.integers(0, CONNECTIONS - 1), actions), min_size=1,
                 max_size=16).map(
    lambda plan: [(index, Join(0, index)) for index in range(CONNECTIONS)] + plan)


# The client side and the model.

@dataclass
class Peer:
    """One connection: replies in a queue; messages recorded (raw text too) and acked."""

    websocket: ClientConnection
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def receive(self) -> None:
        try:
            async for raw in self.websocket:
                try:
                    assert isinstance(raw, str), "the server sent a binary frame"
                    assert raw.isascii(), f"non-ASCII server frame: {raw[:80]!r}"
                    assert len(raw) <= MAX_SERVER_FRAME, f"server frame of {len(raw)} bytes"
                    frame = _strict_json(raw)
                except AssertionError as exc:
                    self.problems.append(str(exc))
                    continue
                if frame.get("type") == "message":
                    self.messages.append((raw, frame))
                    await self.websocket.send(json.dumps({"type": "ack", "id": frame["id"]}))
                else:
                    self.replies.put_nowait(frame)
        except ConnectionClosed:
            pass


@dataclass
class Model:
    """Who is in which room (member index -> connection index), and each connection's last seq.

    Room names carry ``prefix``, so examples never meet on the shared server.
    """

    prefix: str
    rooms: list[dict[int, int]] = field(default_factory=lambda: [{} for _ in range(ROOMS)])
    seq: list[int] = field(default_factory=lambda: [0] * CONNECTIONS)

    def room(self, index: int) -> str:
        return f"{self.prefix}-room{index}"

    @staticmethod
    def member(index: int, too_long: bool = False) -> str:
        return "m" * 129 if too_long else f"member{index}-é"

    def member_of(self, connection: int, room: int) -> int | None:
        for member, holder in self.rooms[room].items():
            if holder == connection:
                return member
        return None


def _frame_text(action: Any, model: Model) -> str | bytes:
    """The frame a step sends, as text (numbers and nesting written by hand)."""
    if isinstance(action, Join):
        return json.dumps({"type": "join", "room": model.room(action.room),
                           "member": model.member(action.member, action.too_long)})
    if isinstance(action, Leave):
        return json.dumps({"type": "leave", "room": model.room(action.room)})
    if isinstance(action, Broadcast):
        body = json.dumps(action.body)
        if action.poison is not None:
            body = f"[{body},{action.poison}]"
        body = "[" * action.depth + body + "]" * action.depth
        text = ('{"type":"broadcast","room":' + json.dumps(model.room(action.room))
                + ',"id":' + json.dumps(action.id) + ',"body":' + body)
        if action.sent_at is not None:
            text += ',"sent_at":' + action.sent_at
        return text + "}"
    if isinstance(action, Ack):
        return json.dumps({"type": "ack", "id": action.id})
    assert isinstance(action, Garbage)
    return action.frame


def _expect(connection: int, action: Any, model: Model) -> tuple[dict[str, Any] | str | None,
                                                                  list[tuple[int, dict[str, Any]]]]:
    """What the doc promises: the reply (a frame, an error code, or None) and the messages.

    Applies the step to the model.
    """
    if isinstance(action, Join):
        room, name = model.room(action.room), model.member(action.member, action.too_long)
        if action.too_long:
            return "too_long", []
        if model.member_of(connection, action.room) is not None:
            return "already_joined", []
        if action.member in model.rooms[action.room]:
            return "member_taken", []
        model.rooms[action.room][action.member] = connection
        return ({"type": "joined", "room": room, "member": name,
                 "members": len(model.rooms[action.room])}, [])
    if isinstance(action, Leave):
        member = model.member_of(connection, action.room)
        if member is None:
            return "not_in_room", []
        del model.rooms[action.room][member]
        return {"type": "left", "room": model.room(action.room)}, []
    if isinstance(action, Broadcast):
        body_depth = action.depth + (action.poison is not None) + _depth(action.body)
        if 1 + body_depth > MAX_DEPTH:
            return "bad_json", []
        if action.poison is not None or not action.sent_at_ok:
            return "bad_field", []
        sender = model.member_of(connection, action.room)
        if sender is None:
            return "not_in_room", []
        body = action.body
        for _ in range(action.depth):
            body = [body]
        messages = []
        for holder in model.rooms[action.room].values():
            if holder == connection:
                continue
            model.seq[holder] += 1
            messages.append((holder, {
                "type": "message", "room": model.room(action.room), "id": action.id,
                "from": model.member(sender), "body": body, "sent_at": action.sent_at,
                "seq": model.seq[holder]}))
        return ({"type": "broadcasted", "room": model.room(action.room), "id": action.id,
                 "recipients": len(messages)}, messages)
    if isinstance(action, Ack):
        if isinstance(action.id, bool) or not isinstance(action.id, str | int):
            return "bad_field", []
        return None, []
    return "any error", []


def _check_message(raw: str, got: dict[str, Any], want: dict[str, Any]) -> None:
    """``got`` (read from ``raw``) is ``want``, with ``want["sent_at"]`` verbatim in ``raw``."""
    sent_at = want.pop("sent_at")
    body = want.pop("body")
    assert re.search(r',"sent_at":' + re.escape(sent_at) + r',"seq":\d+\}$', raw), (raw[-200:],
                                                                                  sent_at)
    assert got["body"] == body, "the body changed on the way"
    assert {key: got[key] for key in want} == want
    assert set(got) == {*want, "sent_at", "body"}


async def _play(url: str, plan: list[tuple[int, Any]]) -> None:
    model = Model(prefix=f"model-{time.monotonic_ns()}")
    peers = [Peer(await connect(url, max_size=MAX_SERVER_FRAME)) for _ in range(CONNECTIONS)]
    for peer in peers:
        peer.task = asyncio.create_task(peer.receive())
    try:
        for step, (connection, action) in enumerate(plan):
            peer = peers[connection]
            before = [len(other.messages) for other in peers]
            await peer.websocket.send(_frame_text(action, model))
            reply, messages = _expect(connection, action, model)
            where = f"step {step}: connection {connection} sent {action!r:.300}"
            if reply is None:  # an ack: no answer
                continue
            try:
                got = await asyncio.wait_for(peer.replies.get(), 10)
            except TimeoutError:
                raise AssertionError(
                    f"{where}: no reply within 10 s (bad frames seen: {peer.problems})") from None
            if isinstance(reply, str):
                assert got.get("type") == "error", f"{where}: {got}"
                assert set(got) == {"type", "code", "detail"}, f"{where}: {got}"
                assert got["code"] in ERROR_CODES and got["detail"], f"{where}: {got}"
                if reply != "any error":
                    assert got["code"] == reply, f"{where}: expected {reply}, got {got}"
            else:
                assert got == reply, f"{where}: expected {reply}, got {got}"
            # naive mode: a broadcast is answered after every member acked its message.
            for index, other in enumerate(peers):
                new = other.messages[before[index]:]
                wanted = [message for holder, message in messages if holder == index]
                assert len(new) == len(wanted), f"{where}: connection {index} got {new}"
                for (raw, frame), want in zip(new, wanted, strict=True):
                    _check_message(raw, frame, dict(want))
            for index, other in enumerate(peers):
                assert other.replies.empty(), f"{where}: stray reply to {index}"
                assert not other.problems, f"{where}: {other.problems}"
                assert other.websocket.close_code is None, (
                    f"{where}: connection {index} closed with {other.websocket.close_code}")
    finally:
        for peer in peers:
            await peer.websocket.close()
            if peer.task is not None:
                await asyncio.wait_for(peer.task, 5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(plan=steps)
def test_random_steps_on_several_connections_match_the_doc(
    naive_server: TargetInfo, plan: list[tuple[int, Any]]
) -> None:
    asyncio.run(_play(naive_server.url, plan))


# The parser alone, much faster: it may only ever raise ProtocolError.

raw_frames = st.one_of(
    st.builds(lambda a: _frame_text(a, Model(prefix="p")), actions),
    st.text(max_size=300),
    st.binary(max_size=300),
    st.builds(lambda depth, opener, leaf: opener * depth + leaf,
              st.integers(0, 3000), st.sampled_from(["[", '{"a":', '[{"a":']), st.text(max_size=5)),
    st.builds(lambda value, encoding: json.dumps({"type": "join", "room": "r",
                                                  "member": value}).encode(encoding),
              st.text(min_size=1, max_size=10), st.sampled_from(["utf-8", "utf-16", "utf-32"])),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_frames)
def test_parse_frame_raises_only_protocol_errors(raw: str | bytes) -> None:
    try:
        parse_frame(raw)
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES and exc.detail
