"""The json protocol: a server described in the scenario, with no code.

Frames and rules are checked without sockets; then real harness runs (real
Toxiproxy, real Locust) go against the two servers of tests/jsonservers.py,
one that joins by connecting and one that joins by frame, neither with acks.
Bad descriptions are refused with one line and exit code 2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.protocols import (
    Answer,
    Broadcasted,
    Delivered,
    ErrorReply,
    Joined,
    Left,
    Opened,
    Other,
    Unparseable,
    build_protocol,
)
from harness.scenario import ScenarioError, load_scenario
from harness.target import PROJECT_ROOT
from tests.events import each, one
from tests.jsonservers import connect_server, frame_server
from tests.test_chaos_run import assert_nothing_left


def connect_dialect(path: str) -> str:
    """The join-by-connect dialect of tests/roomservers.py, served at ``path``, as a user
    describes it: the ``[protocol]`` table."""
    return """
[protocol]
kind = "json"
url = "{path}?room={room}&user={member}"
broadcast = {say = "{body}", ref = "{id}"}
message = {event = "chat"}
message_fields = {id = "ref", sender = "from", body = "text"}
""".replace("{path}", path)


#: The join-by-connect server of tests/jsonservers.py.
CONNECT_PROTOCOL = connect_dialect("/chat")

#: The join-by-frame server of tests/jsonservers.py.
FRAME_PROTOCOL = """
[protocol]
kind = "json"
join = {action = "enter", channel = "{room}", nick = "{member}"}
joined = {kind = "entered"}
leave = {action = "exit"}
left = {kind = "exited"}
message = {kind = "posted"}
message_fields = {id = "msg.id", sent_at = "msg.ts", sender = "by", body = "msg.text"}

[protocol.broadcast]
action = "post"
channel = "{room}"
msg = {id = "{id}", ts = "{sent_at}", text = "{body}"}
"""

SCENARIO = """
name = "json-server"
description = "A JSON room server described in [protocol]."

[load]
rooms = 1
members = 4
slow_members = 0
spawn_rate = 8
broadcast_interval = "200ms"
stay = "1s"
away = "100ms"

[timing]
warmup = "5s"
fault = "0s"
cooldown = "0s"

[thresholds]
min_samples = 8
checks = {checks}
"""

GOOD_CHECKS = '["join[fast].p99 < 250ms", "deliver[fast].p99 < 250ms", "errors.ratio < 0.01"]'


def _scenario(directory: Path, protocol: str, checks: str = GOOD_CHECKS) -> Path:
    path = directory / "json-server.toml"
    path.write_text(SCENARIO.replace("{checks}", checks) + protocol)
    return path


def _protocol(text: str) -> Any:
    import tomllib

    return build_protocol(tomllib.loads(text)["protocol"])


# Frames out, events in: no sockets.

def test_join_by_connect_builds_the_room_url_on_the_members_host() -> None:
    protocol = _protocol(CONNECT_PROTOCOL)
    assert protocol.joins_by_connect and not protocol.confirms_join
    assert protocol.join_frame("r", "m") is None and protocol.leave_frame("r") is None
    url = protocol.connect_url("ws://127.0.0.1:4000/ignored?x=1", "lobby 1", "ann&bob")
    assert url == "ws://127.0.0.1:4000/chat?room=lobby%201&user=ann%26bob"


def test_templates_keep_the_type_of_a_lone_placeholder() -> None:
    protocol = _protocol(FRAME_PROTOCOL)
    frame = json.loads(protocol.broadcast_frame("r", "fast-1-7", 'say "hi"', 1764582000.125))
    assert frame == {"action": "post", "channel": "r",
                     "msg": {"id": "fast-1-7", "ts": 1764582000.125, "text": 'say "hi"'}}
    assert json.loads(protocol.join_frame("é", "日本")) == {"action": "enter", "channel": "é",
                                                          "nick": "日本"}
    assert protocol.ack_frame(Delivered(None, None, "x", None, None)) is None  # no acks


def test_placeholder_inside_a_longer_string_is_filled_in_as_text() -> None:
    protocol = build_protocol({"kind": "json", "broadcast": {"text": "{id} at {sent_at}: {{x}}"},
                               "message": {"t": "m"}, "message_fields": {"id": "i"}})
    assert json.loads(protocol.broadcast_frame("r", "a-1", "b", 2.5)) == {"text": "a-1 at 2.5: {x}"}


def test_frames_are_classified_by_the_rules() -> None:
    protocol = _protocol(FRAME_PROTOCOL)
    delivered = protocol.classify(
        '{"kind": "posted", "by": "fast-2", "msg": {"id": "fast-2-1", "ts": 12.5, "text": "hi"}}')
    assert delivered == Delivered(None, "fast-2", "fast-2-1", 12.5, None, "hi",
                                  delivered.frame)
    assert type(protocol.classify('{"kind": "entered", "channel": "r"}')) is Joined
    assert type(protocol.classify('{"kind": "exited"}')) is Left
    assert type(protocol.classify('{"kind": "presence"}')) is Other
    unreadable = protocol.classify("this is not JSON {")
    assert type(unreadable) is Unparseable and "not JSON" in unreadable.reason
    no_id = protocol.classify('{"kind": "posted", "by": "x", "msg": {}}')
    assert type(no_id) is Unparseable and "msg.id" in no_id.reason


def test_confirmations_and_errors_by_rule_and_path() -> None:
    protocol = build_protocol({
        "kind": "json", "join": {"op": "join", "room": "{room}"},
        "broadcast": {"op": "send", "body": "{body}", "id": "{id}"},
        "broadcasted": {"op": "sent"}, "error": {"op": "error", "details.fatal": "*"},
        "error_fields": {"code": "details.code", "detail": "details.text"},
        "message": {"op": "msg"}, "message_fields": {"id": "data.0"}})
    assert type(protocol.classify('{"op": "sent"}')) is Broadcasted
    error = one(protocol.classify('{"op": "error", "details": {"fatal": false, "code": 7, '
                                  '"text": "full"}}'), ErrorReply)
    assert error == ErrorReply("7", "full", error.frame)
    assert type(protocol.classify('{"op": "error", "details": {}}')) is Other  # fatal missing
    assert one(protocol.classify('{"op": "msg", "data": ["a-1"]}'), Delivered).id == "a-1"
    assert type(protocol.classify('{"op": "msg", "data": 1}')) is Unparseable
    assert type(protocol.classify('{"op": true}')) is Other  # true is not "sent"


# Bad descriptions: one line, exit 2, before anything starts.

BAD_DESCRIPTIONS = [
    ('colour = "red"', "unknown key 'colour' in [protocol]"),
    ('join = {op = "join", who = "{user}"}', "join.who names unknown placeholder {user}"),
    ('leave = {op = "leave", id = "{id}"}', "leave.id names unknown placeholder {id}"),
    ('url = "/chat?room={rom}"', "url names unknown placeholder {rom}"),
    ('broadcasted = {event = "chat"}',
     "message can never match a frame: every frame it matches, broadcasted matches first"),
    ('joined = {}', "an empty rule would match every frame"),
    ('error = {status = "e", "status.code" = 1}', "error can never match a frame"),
    ('left = {ok = [1]}', "can never match a frame"),
    ('message_fields = {id = "ref", when = "at"}', "unknown key 'when' in [protocol] "
                                                    "message_fields"),
]


@pytest.mark.parametrize("line, problem", BAD_DESCRIPTIONS)
def test_bad_description_is_refused_in_one_line(tmp_path: Path, line: str, problem: str) -> None:
    key = line.split(" =")[0]
    kept = [kept for kept in CONNECT_PROTOCOL.splitlines() if not kept.startswith(key + " =")]
    path = _scenario(tmp_path, "\n".join([*kept, line, ""]))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def refused_in_one_line(tmp_path: Path, scenario: Path, target_url: str,
                        pythonpath: Path | None = None) -> str:
    """Run ``harness run scenario`` (results under ``tmp_path``, ``PYTHONPATH`` set to
    ``pythonpath`` if given); assert it refused before starting anything (exit 2, one line
    on stderr, no traceback, no results) and return that line."""
    env = None if pythonpath is None else {**os.environ, "PYTHONPATH": str(pythonpath)}
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--target-url", target_url,
         "--results-dir", str(tmp_path / "results")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert completed.returncode == 2, completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "results").exists()
    return line


def test_harness_run_refuses_a_bad_description_before_starting_anything(tmp_path: Path) -> None:
    path = _scenario(tmp_path, CONNECT_PROTOCOL.replace('ref = "{id}"', 'ref = "{msgid}"'))
    line = refused_in_one_line(tmp_path, path, "ws://127.0.0.1:9/chat")
    assert line.endswith(f"{path}: [protocol] broadcast.ref names unknown placeholder {{msgid}}; "
                         "it may use {room}, {member}, {id}, {sent_at}, {body}, {cmd}"), line


def test_unknown_kind_and_user_classes(tmp_path: Path) -> None:
    for kind, problem in [("jsn", "unknown protocol kind 'jsn'"),
                          ("no_such_module_here:X", "cannot import 'no_such_module_here'"),
                          ("harness.protocols:NoSuch", "has no 'NoSuch'"),
                          ("json:dumps", "is not a subclass of harness.protocols.ClientProtocol")]:
        path = _scenario(tmp_path, f'[protocol]\nkind = "{kind}"\n')
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path)
        assert problem in str(caught.value), str(caught.value)
    path = _scenario(tmp_path, '[protocol]\nkind = "harness.protocols.roomchaos:RoomChaos"\n')
    assert load_scenario(path).protocol.kind == "harness.protocols.roomchaos:RoomChaos"


@pytest.mark.parametrize("kind, problem", [
    (".x:Y", "protocol kind '.x:Y': '.x' is a relative module name; give the module's full "
             "dotted name"),
    ("raising_protocol_module:Proto", "protocol kind 'raising_protocol_module:Proto': importing "
     "'raising_protocol_module' raised RuntimeError: no database configured; fix that module"),
])
def test_harness_run_refuses_a_class_that_cannot_be_imported_in_one_line(
        tmp_path: Path, kind: str, problem: str) -> None:
    """A relative module name, or a module that raises on import: exit 2, one line."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "raising_protocol_module.py").write_text(
        'raise RuntimeError("no database\\n configured")\n')
    path = _scenario(tmp_path, f'[protocol]\nkind = "{kind}"\n')
    line = refused_in_one_line(tmp_path, path, "ws://127.0.0.1:9/chat", pythonpath=modules)
    assert problem in line, line


def test_every_example_in_the_docs_is_a_valid_scenario(tmp_path: Path) -> None:
    docs = (PROJECT_ROOT / "docs" / "protocols.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", docs, re.S)
    assert len(blocks) >= 7  # frames, connect, messaging, hub, socketio chat, two classes
    for number, block in enumerate(blocks):
        text = block if block.startswith("name =") else SCENARIO.replace(
            "{checks}", GOOD_CHECKS) + block
        path = tmp_path / f"example-{number}.toml"
        path.write_text(text)
        if "mycompany" in block:
            with pytest.raises(ScenarioError, match="cannot import 'mycompany.roomproto'"):
                load_scenario(path)
        else:
            import tomllib

            kind = tomllib.loads(block)["protocol"]["kind"]
            assert kind in ("json", "socketio", "tests.binaryprotocol:BinaryRooms"), kind
            assert load_scenario(path).protocol.kind == kind


# Real runs against real servers.

def _assert_no_member_crashed(locust_log: str) -> None:
    """Every traceback in Locust's log is the harness's own SIGINT (it stops Locust with one,
    and the KeyboardInterrupt lands in whichever greenlet runs): none is a member's."""
    for traceback in locust_log.split("Traceback (most recent call last):")[1:]:
        raised = next(line for line in traceback.splitlines()[1:] if not line.startswith(" "))
        assert raised == "KeyboardInterrupt", traceback


def _passing_run(tmp_path: Path, protocol: str, target_url: str,
                 checks: str = GOOD_CHECKS) -> tuple[dict[str, Any], list[Any], dict[str, int]]:
    """A real run of the test scenario with ``protocol`` against ``target_url``; it must PASS.

    Returns result.json, every sample, and the count of successful samples per operation.
    """
    results = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(_scenario(tmp_path, protocol, checks)),
         "--target-url", target_url, "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    [result_file] = results.glob("**/result.json")
    result = json.loads(result_file.read_text())
    samples = [json.loads(line) for line in (result_file.parent / "samples.jsonl").open()]
    _assert_no_member_crashed((result_file.parent / "locust.log").read_text())
    assert_nothing_left(result, results)
    assert completed.returncode == 0, result["verdict"]
    counts: dict[str, int] = {}
    for sample in samples:
        if sample["ok"]:
            counts[sample["op"]] = counts.get(sample["op"], 0) + 1
    return result, samples, counts


@pytest.mark.integration
def test_join_by_connect_server_passes(tmp_path: Path) -> None:
    with connect_server() as url:
        _, samples, counts = _passing_run(tmp_path, CONNECT_PROTOCOL, url + "/chat")
    assert counts.get("join", 0) >= 8 and counts.get("leave", 0) >= 4, counts
    assert counts.get("connect", 0) == 0  # connecting is the join
    # The server carries no send time: each delivery is timed from the sender's own record.
    assert counts.get("deliver", 0) >= 20, counts
    assert all(sample["ok"] for sample in samples), [s for s in samples if not s["ok"]][:3]


@pytest.mark.integration
def test_join_by_frame_server_passes(tmp_path: Path) -> None:
    with frame_server() as url:
        result, _, counts = _passing_run(tmp_path, FRAME_PROTOCOL, url)
    assert counts.get("connect", 0) >= 4 and counts.get("join", 0) >= 8, counts
    assert counts.get("leave", 0) >= 4 and counts.get("deliver", 0) >= 20, counts
    assert result["scenario"]["protocol"]["kind"] == "json"


@pytest.mark.integration
def test_unreadable_frame_is_an_error_sample_and_the_member_reads_on(tmp_path: Path) -> None:
    with frame_server(garbage=True) as url:
        result, samples, _ = _passing_run(tmp_path, FRAME_PROTOCOL, url,
                                          '["deliver[fast].p99 < 250ms", "errors.count > 0"]')
    unreadable = [sample for sample in samples if sample["op"] == "frame"]
    assert len(unreadable) >= 8  # one per join
    # They reach the verdict: errors.count (and errors.ratio) count them, as documented.
    [errors] = [check for check in result["thresholds"] if check["check"] == "errors.count > 0"]
    assert errors["measured"] == result["measured"]["failed_samples"] >= len(unreadable)
    assert all(not sample["ok"] and "not JSON" in sample["error"]
               and "this is not JSON {" in sample["error"] for sample in unreadable)
    for member in {sample["member"] for sample in unreadable}:
        first_bad = min(s["time"] for s in unreadable if s["member"] == member)
        later = [s for s in samples if s["member"] == member and s["ok"]
                 and s["op"] in ("join", "deliver") and s["time"] > first_bad]
        assert later, f"{member} did nothing after its unreadable frame"


@pytest.mark.integration
def test_a_frame_header_that_breaks_websocket_ends_the_connection_not_the_member(
        tmp_path: Path) -> None:
    """A length of 2**63 is a protocol error (not an allocation, nor a receive loop that dies
    and leaves its socket unread): the connection ends, the waiting operation fails saying
    why, and the member joins again."""
    with frame_server(broken_header=True) as url:
        _, samples, counts = _passing_run(tmp_path, FRAME_PROTOCOL, url, '["errors.count > 0"]')
    broken = [sample for sample in samples
              if not sample["ok"] and "over this reader's limit" in (sample["error"] or "")]
    assert broken, {sample["error"] for sample in samples if not sample["ok"]}
    assert counts.get("join", 0) >= 2 * len({sample["member"] for sample in broken}), counts


@pytest.mark.integration
def test_a_users_own_class_runs_in_locust(tmp_path: Path) -> None:
    """``kind = "module:Class"``: the harness and Locust both import and use it."""
    protocol = '[protocol]\nkind = "tests.userprotocol:ChatOverUrl"\n'
    with connect_server() as url:
        _, _, counts = _passing_run(tmp_path, protocol, url + "/anything")
    # roomchaos could not join this server; the class did, and timed deliveries by its ids.
    assert counts.get("join", 0) >= 8 and counts.get("deliver", 0) >= 20, counts


# Handshakes, command ids, answers and batched frames (issue 19).

MESSAGING = {
    "kind": "json", "handshake": [{"send": {"id": "{cmd}", "connect": {"name": "{member}"}}}],
    "reply_id": "id", "join": {"id": "{cmd}", "subscribe": {"channel": "{room}"}},
    "leave": {"id": "{cmd}", "unsubscribe": {"channel": "{room}"}},
    "broadcast": {"id": "{cmd}", "publish": {"channel": "{room}", "data": {
        "id": "{id}", "at": "{sent_at}", "by": "{member}"}}},
    "answers": [{"equals": {}, "reply": {}}], "separator": "\n",
    "message": {"push.pub": "*"},
    "message_fields": {"id": "push.pub.data.id", "sent_at": "push.pub.data.at"},
    "error": {"error": "*"}, "error_fields": {"code": "error.code", "detail": "error.message"}}


def test_handshake_waits_for_its_reply_by_command_id_then_opens() -> None:
    protocol = build_protocol(MESSAGING)
    assert protocol.awaits_open and protocol.confirms_join and protocol.confirms_leave
    assert protocol.opened("lobby", "fast-1") == ['{"id":1,"connect":{"name":"fast-1"}}']
    assert type(protocol.classify('{"id":7,"connect":{}}')) is Other  # not its id
    assert [type(e) for e in each(protocol.classify('{"id":1,"connect":{}}'))] == [Opened]
    assert protocol.join_frame("lobby", "fast-1") == '{"id":2,"subscribe":{"channel":"lobby"}}'
    assert type(protocol.classify('{"id":2,"subscribe":{}}')) is Joined
    frame = json.loads(protocol.broadcast_frame("lobby", "fast-1-1", "hi", 2.5))
    assert frame["id"] == 3 and frame["publish"]["data"]["by"] == "fast-1"  # {member}
    error = one(protocol.classify('{"id":3,"error":{"code":103,"message":"permission denied"}}'),
                ErrorReply)
    assert error == ErrorReply("103", "permission denied", error.frame)
    # A new connection starts the handshake and the command ids over.
    protocol.closed()
    assert protocol.opened("lobby", "fast-1") == ['{"id":1,"connect":{"name":"fast-1"}}']


def test_a_batched_frame_is_several_events_in_order_and_pings_are_answered() -> None:
    protocol = build_protocol(MESSAGING)
    protocol.opened("lobby", "fast-1")
    protocol.classify('{"id":1,"connect":{}}')
    protocol.join_frame("lobby", "fast-1")
    pushes = "\n".join(json.dumps({"push": {"pub": {"data": {"id": f"fast-2-{n}", "at": 1.5}}}})
                       for n in range(1, 15))
    events = each(protocol.classify('{}\n{"id":2,"subscribe":{}}\n' + pushes))
    assert [e.kind for e in events] == ["answer", "joined"] + ["delivered"] * 14
    assert events[0] == Answer("{}", one(events[0], Answer).reason, {})
    assert [one(e, Delivered).id for e in events[2:]] == [f"fast-2-{n}" for n in range(1, 15)]
    assert type(protocol.classify("{}")) is Answer  # a ping alone


def test_a_handshake_step_without_a_reply_is_only_sent() -> None:
    protocol = build_protocol({
        "kind": "json", "handshake": [{"send": {"hello": "{member}"}},
                                      {"send": {"auth": "t"}, "reply": {"ok": True}}],
        "broadcast": {"say": "{body}", "ref": "{id}"}, "message": {"event": "chat"},
        "message_fields": {"id": "ref"}})
    assert protocol.opened("r", "m") == ['{"hello":"m"}', '{"auth":"t"}']
    assert [e.kind for e in each(protocol.classify('{"ok": true}'))] == ["opened"]


BAD_NEW_KEYS = [
    ({"reply_id": "id"}, "reply_id is set but no join, leave, broadcast or handshake send "
                         "names {cmd}"),
    ({"separator": ""}, "separator must be a non-empty string"),
    ({"answers": [{"reply": {}}]}, "answers[0] needs one of match (a rule) or equals"),
    ({"answers": [{"equals": {}, "send": {}}]}, "unknown key 'send' in [protocol] answers[0]"),
    ({"handshake": [{"reply": {"ok": True}}]}, "handshake[0] must be a table with send"),
    ({"handshake": [{"send": {"x": "{body}"}}]}, "handshake[0].send.x names unknown "
                                                "placeholder {body}"),
    ({"ack": {"id": "{cmd}"}}, "ack.id names unknown placeholder {cmd}"),
]


@pytest.mark.parametrize("extra, problem", BAD_NEW_KEYS)
def test_bad_new_keys_are_refused_in_one_line(extra: dict[str, Any], problem: str) -> None:
    description = {"kind": "json", "broadcast": {"say": "{body}", "ref": "{id}"},
                   "message": {"event": "chat"}, "message_fields": {"id": "ref"}, **extra}
    with pytest.raises(ValueError) as caught:
        build_protocol(description)
    assert problem in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
