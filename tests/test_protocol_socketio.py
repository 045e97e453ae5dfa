"""The socketio protocol and the Socket.IO reference target (targets/socketio_room).

Packets are checked without sockets against python-socketio's own decoder;
then members speak to the real target over real WebSockets; then the harness
runs scenarios/socketio-slow-member.toml in both modes: naive FAIL, fixed PASS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from engineio import packet as eio
from hypothesis import given
from hypothesis import strategies as st
from socketio import packet as sio

from harness.net.httpget import get_json
from harness.protocols import (
    Answer,
    Broadcasted,
    Delivered,
    ErrorReply,
    Event,
    Joined,
    Left,
    Opened,
    Other,
    SocketIO,
    Unparseable,
    build_protocol,
)
from harness.protocols.base import Frame
from harness.rig.launched import ReferenceTarget
from harness.target import BUNDLED_SERVERS, PROJECT_ROOT, http_base
from tests.events import one
from tests.test_chaos_run import assert_nothing_left

P = SocketIO()
SCENARIO = PROJECT_ROOT / "scenarios" / "socketio-slow-member.toml"


def _decode(frame: Frame | None) -> sio.Packet:
    assert isinstance(frame, str), frame  # Socket.IO's packets are text frames
    outer = eio.Packet(encoded_packet=frame)
    assert outer.packet_type == eio.MESSAGE
    return sio.Packet(encoded_packet=outer.data)


# Packets: no sockets.

def test_operations_are_events_that_ask_for_an_acknowledgement() -> None:
    join = _decode(P.join_frame("lobby", "ann"))
    assert (join.packet_type, join.data, join.id) == (sio.EVENT, ["join", {"room": "lobby",
                                                                          "member": "ann"}], 1)
    sent = _decode(P.broadcast_frame("lobby", "ann-3", "hi", 1764582000.125))
    assert sent.data == ["broadcast", {"room": "lobby", "id": "ann-3", "body": "hi",
                                       "sent_at": 1764582000.125}] and sent.id == 2
    assert _decode(P.leave_frame("lobby")).data == ["leave", {"room": "lobby"}]
    with pytest.raises(ValueError):
        P.broadcast_frame("lobby", "ann-4", "hi", float("nan"))


CHAT = {"kind": "socketio",
        "join": {"event": "add user", "args": ["{member}"], "confirmed_by": "login"},
        "broadcast": {"event": "new message", "ack": False,
                      "args": [{"id": "{id}", "at": "{sent_at}", "text": "{body}"}]},
        "leave": "disconnect",
        "message": {"event": "new message", "fields": {
            "id": "0.message.id", "sent_at": "0.message.at", "sender": "0.username"}}}


def test_event_names_and_confirmations_come_from_the_description() -> None:
    chat = build_protocol(CHAT)
    assert chat.confirms_join and not chat.confirms_broadcast and not chat.confirms_leave
    assert chat.leave_frame("lobby") is None  # leave = "disconnect": close the connection
    chat.opened("lobby", "ann")
    join = _decode(chat.join_frame("lobby", "ann"))
    assert (join.data, join.id) == (["add user", "ann"], None)  # no ack asked
    sent = _decode(chat.broadcast_frame("lobby", "ann-1", "hi", 2.5))
    assert (sent.data, sent.id) == (["new message", {"id": "ann-1", "at": 2.5, "text": "hi"}],
                                    None)
    assert type(chat.classify('42["login",{"numUsers":2}]')) is Joined
    assert type(chat.classify('42["user joined",{"username":"bob"}]')) is Other
    delivered = chat.classify('42["new message",{"username":"bob","message":'
                              '{"id":"bob-4","at":3.5,"text":"x"}}]')
    assert isinstance(delivered, Delivered)
    assert (delivered.sender, delivered.id, delivered.sent_at) == ("bob", "bob-4", 3.5)
    asked = chat.classify('421["login",{"numUsers":2}]')  # a confirming event asking an ack
    assert isinstance(asked, list) and [e.kind for e in asked] == ["answer", "joined"]


@pytest.mark.parametrize("change, problem", [
    ({"colour": 1}, "unknown key 'colour' in [protocol] (kind = \"socketio\" takes"),
    ({"join": {"event": "add user", "ack": True, "confirmed_by": "login"}},
     "[protocol] join has ack = true and confirmed_by: one confirmation only"),
    ({"join": {"confirmed_by": "new message"}}, "is also the message event"),
    ({"leave": {"confirmed_by": "login"}}, "join and leave are both confirmed_by 'login'"),
    ({"join": {"args": ["{body}"]}}, "join.args[0] names unknown placeholder {body}"),
    ({"message": {"event": "m", "fields": {"sender": "0.u"}}}, "fields needs id"),
    ({"leave": "quit"}, "[protocol] leave must be a table"),
])
def test_bad_socketio_descriptions_are_refused_in_one_line(change: dict[str, Any],
                                                           problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        build_protocol({**CHAT, **change})
    assert problem in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_connect_url_adds_socketio_path_and_query_where_missing() -> None:
    assert P.connect_url("ws://127.0.0.1:1", "r", "m") == \
        "ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket"
    assert P.connect_url("ws://h:1/io/?EIO=4&transport=websocket&token=t", "r", "m") == \
        "ws://h:1/io/?EIO=4&transport=websocket&token=t"


def test_session_handshake_pings_and_acks_are_answered() -> None:
    opened = P.classify('0{"sid":"x","pingInterval":25000,"pingTimeout":20000}')
    assert type(opened) is Answer and _decode(opened.reply).packet_type == sio.CONNECT
    pong = P.classify("2")
    assert type(pong) is Answer and pong.reply == "3"
    assert type(P.classify('40{"sid":"y"}')) is Opened
    asked = P.classify('427["presence",{"n":2}]')
    assert type(asked) is Answer and (_decode(asked.reply).packet_type, _decode(asked.reply).id) \
        == (sio.ACK, 7)
    assert type(P.classify('42["presence",{"n":2}]')) is Other


def test_acknowledgements_confirm_by_their_id() -> None:
    joined = one(P.classify('431[{"room":"r","member":"m","members":3}]'), Joined)
    assert joined == Joined("r", "m", 3, joined.frame)
    sent = one(P.classify('432[{"room":"r","id":"m-1","recipients":2}]'), Broadcasted)
    assert sent == Broadcasted("r", "m-1", 2, sent.frame)
    assert type(P.classify('433[{"room":"r"}]')) is Left
    refused = one(P.classify('433[{"error":"not_in_room","detail":"not in room \'r\'"}]'),
                  ErrorReply)
    assert refused == ErrorReply("not_in_room", "not in room 'r'", refused.frame)
    assert type(P.classify('439[{}]')) is Other


def test_messages_are_delivered_and_acked_when_asked() -> None:
    asked = one(P.classify('4215["message",{"room":"r","from":"a","id":"a-1","sent_at":2.5,'
                           '"body":"hi"}]'), Delivered)
    assert asked == Delivered("r", "a", "a-1", 2.5, None, "hi", asked.frame)
    ack = _decode(P.ack_frame(asked))
    assert (ack.packet_type, ack.id) == (sio.ACK, 15)
    plain = P.classify('42["message",{"room":"r","from":"a","id":7,"sent_at":null}]')
    assert type(plain) is Delivered and plain.sent_at is None and P.ack_frame(plain) is None


@pytest.mark.parametrize("raw, reason", [
    ("", "not an Engine.IO packet"), ("x", "not an Engine.IO packet"),
    ("42[", "not a Socket.IO packet"), (b"\x04abc", "binary frame"),
    ('451-["message",{"_placeholder":true,"num":0}]', "binary Socket.IO packet"),
    ('42["message","text"]', "without an object"),
    ('42["message",{"id":null}]', "without a string or integer id"),
])
def test_unreadable_packets_say_why(raw: str | bytes, reason: str) -> None:
    event = P.classify(raw)
    assert type(event) is Unparseable and reason in event.reason, event


@given(st.text(max_size=40) | st.binary(max_size=10)
       | st.builds(lambda tail: "42" + tail, st.text(max_size=40)))
def test_classify_never_raises(raw: str | bytes) -> None:
    assert isinstance(P.classify(raw), Event)


# The real target.

class Member:
    """A member over websocket-client, frames built and read by the socketio protocol."""

    def __init__(self, url: str, auto_ack: bool = True) -> None:
        self.ws = websocket.create_connection(P.connect_url(url, "", ""), timeout=5)
        self.auto_ack = auto_ack
        self.unacked: list[Delivered] = []
        self.delivered: list[Delivered] = []
        self.pending: list[Event] = []  # events read but not yet handled
        assert type(self.next_event()) is Opened

    def next_event(self) -> Event:
        """The next event an operation waits for, answering the rest on the way."""
        while True:
            if not self.pending:  # a frame may stand for several events
                events = P.classify(self.ws.recv())
                self.pending.extend([events] if isinstance(events, Event) else events)
            event = self.pending.pop(0)
            if type(event) is Answer and event.reply is not None:
                self.ws.send(event.reply)
            elif type(event) is Delivered:
                self.delivered.append(event)
                ack = P.ack_frame(event)
                if ack is not None and self.auto_ack:
                    self.ws.send(ack)
                elif ack is not None:
                    self.unacked.append(event)
            elif type(event) is not Other:
                return event

    def request(self, frame: Frame | None) -> Event:
        assert isinstance(frame, str), frame  # Socket.IO's packets are text frames
        self.ws.send(frame)
        return self.next_event()

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(params=["naive", "fixed"])
def socketio_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    target = ReferenceTarget(request.param, tmp_path, server="socketio", send_timeout=5.0,
                             lock_wait_threshold=0.1, lock_suspend_threshold=0.002)
    with target as info:
        yield request.param, info.url
    assert not target.process.alive()


def test_target_serves_rooms_health_and_lock_reports(socketio_target: tuple[str, str]) -> None:
    mode, url = socketio_target
    ann, bob = Member(url), Member(url, auto_ack=False)
    try:
        first = ann.request(P.join_frame("lobby", "ann"))
        assert type(first) is Joined and (first.room, first.member, first.members) == \
            ("lobby", "ann", 1)
        joined = bob.request(P.join_frame("lobby", "bob"))
        assert type(joined) is Joined and joined.members == 2
        started = time.monotonic()
        ann.ws.send(P.broadcast_frame("lobby", "ann-1", "hi", time.time()))
        if mode == "naive":
            # The server waits for bob's acknowledgement, holding the room lock meanwhile.
            bob.ws.settimeout(5)
            message = P.classify(bob.ws.recv())
            assert type(message) is Delivered
            ack = P.ack_frame(message)
            assert ack is not None
            time.sleep(0.3)
            bob.ws.send(ack)
        confirmed = ann.next_event()
        assert type(confirmed) is Broadcasted and confirmed.recipients == 1
        if mode == "naive":
            assert time.monotonic() - started >= 0.3
        assert type(bob.request(P.leave_frame("lobby"))) is Left
        refused = bob.request(P.leave_frame("lobby"))
        assert type(refused) is ErrorReply and refused.code == "not_in_room"
        if mode == "fixed":
            assert bob.delivered and P.ack_frame(bob.delivered[0]) is None  # emit, no ack
    finally:
        ann.close()
        bob.close()
    base = http_base(url)
    reports = _reports(base)
    if mode == "naive":
        assert any(report["kind"] == "held_across_await" and "naive" in json.dumps(report)
                   for report in reports), reports
    else:
        assert reports == []


def _reports(base: str) -> list[Any]:
    deadline = time.monotonic() + 5
    while True:
        reports: list[Any] = get_json(f"{base}/debug/locks")
        if reports or time.monotonic() > deadline:
            return reports
        time.sleep(0.2)


def test_bad_requests_get_error_acknowledgements(tmp_path: Path) -> None:
    with ReferenceTarget("fixed", tmp_path, server="socketio") as info:
        member = Member(info.url)
        try:
            member.ws.send('421["join",{"room":"lobby"}]')
            refused = member.next_event()
            assert type(refused) is ErrorReply and refused.code == "bad_request"
            member.ws.send('422["broadcast",{"room":"lobby","id":"x-1"}]')
            assert type(member.next_event()) is ErrorReply
        finally:
            member.close()
        assert urlopen_status(f"{http_base(info.url)}/nothing-here") == 404


def urlopen_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_harness_knows_the_servers_own_modes() -> None:
    from targets.socketio_room.modes import MODES as SERVER_MODES

    server = BUNDLED_SERVERS["socketio"]
    assert sorted(server.modes) == sorted(SERVER_MODES)
    assert server.module == "targets.socketio_room" and server.protocol == SocketIO.name


def test_an_unknown_server_is_refused_in_one_line(tmp_path: Path) -> None:
    from harness.scenario import ScenarioError, load_scenario

    path = tmp_path / "typo.toml"
    path.write_text(SCENARIO.read_text().replace('server = "socketio"', 'server = "sockeio"'))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}: [target] server 'sockeio' is not a bundled server; did you mean 'socketio'? "
        "(bundled: roomserver, socketio)")
    scenario = load_scenario(SCENARIO)
    assert scenario.to_dict()["target"]["server"] == "socketio"
    assert scenario.to_dict()["protocol"] == {"kind": "socketio"}
    # Without a [protocol] table, members speak the bundled server's protocol.
    path.write_text(SCENARIO.read_text().replace("[protocol]", "").replace(
        'kind = "socketio"', ""))
    assert load_scenario(path).protocol.kind == "socketio"


def test_a_mode_the_server_does_not_have_is_refused(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(SCENARIO), "--mode", "spawn",
         "--results-dir", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=60)
    assert completed.returncode == 2
    [line] = completed.stderr.strip().splitlines()
    assert "mode 'spawn' is not one of the socketio server's (naive/fixed)" in line
    assert list(tmp_path.iterdir()) == []


# The harness, end to end.

@pytest.mark.integration
def test_matrix_naive_fails_fixed_passes(tmp_path: Path) -> None:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "matrix", str(SCENARIO), "--results-dir",
         str(tmp_path), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [matrix] = tmp_path.glob("*/matrix.json")
    rows = {row["mode"]: row for row in json.loads(matrix.read_text())["runs"]}
    assert {mode: row["verdict"] for mode, row in rows.items()} == \
        BUNDLED_SERVERS["socketio"].expected_verdicts == {"naive": "FAIL", "fixed": "PASS"}
    for row in rows.values():
        result = json.loads((Path(row["run_dir"]) / "result.json").read_text())
        assert result["scenario"]["protocol"]["kind"] == "socketio"
        assert_nothing_left(result, tmp_path)
    naive = json.loads((Path(rows["naive"]["run_dir"]) / "result.json").read_text())
    assert any(report["kind"] == "held_across_await" for report in naive["lock_reports"])
    assert elapsed < 90, f"the socketio matrix took {elapsed:.0f} s"
