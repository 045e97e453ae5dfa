"""The client side of docs/wire-protocol.md (harness.protocols.roomchaos), without sockets.

Frame templates are read from docs/wire-protocol.md itself, so a frame the module
builds is compared with what the document says, character for character.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocols import (
    PROTOCOLS,
    ROOMCHAOS,
    Broadcasted,
    ClientProtocol,
    Delivered,
    ErrorReply,
    Event,
    Joined,
    Left,
    Other,
    RoomChaos,
    Unparseable,
    build_protocol,
)
from harness.protocols.roomchaos import without_acks

DOC = (Path(__file__).resolve().parent.parent / "docs" / "wire-protocol.md").read_text()
P = ROOMCHAOS


def _template(kind: str) -> str:
    """The frame of type ``kind`` as docs/wire-protocol.md writes it, placeholders included."""
    [template] = set(re.findall(r'`(\{"type":"' + kind + r'"[^`]*\})`', DOC))
    return template


def _fill(kind: str, **values: str) -> str:
    """The documented frame with each placeholder replaced by the JSON text given for it."""
    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]
    return re.sub(r"(?<=:)([A-Z]+)(?=[,}])", value, _template(kind))


def _js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# Frames built: exactly the document's.

@pytest.mark.parametrize("room, member", [("r", "m"), ("lobby 1", 'quote " and \\'),
                                          ("é", "日本"), ("r" * 128, "m" * 128)])
def test_join_and_leave_frames_are_the_documents(room: str, member: str) -> None:
    assert P.join_frame(room, member) == _fill("join", R=_js(room), M=_js(member))
    assert P.leave_frame(room) == _fill("leave", R=_js(room))


@pytest.mark.parametrize("message_id, body, sent_at", [
    ("alice-1", "hello", 1764582000.123456),
    (7, {"k": [1, 2.5, None, True]}, 0.1),
    (12345678901234567890, "é", 1e-7),
    ("x", None, 1764582000),
])
def test_broadcast_frame_is_the_documents(message_id: Any, body: Any, sent_at: float) -> None:
    frame = P.broadcast_frame("room", message_id, body, sent_at)
    assert frame == _fill("broadcast", R='"room"', ID=_js(message_id), B=_js(body),
                          T=repr(sent_at))
    assert frame.isascii()


@pytest.mark.parametrize("message_id", ["m-1", 0, -3, 12345678901234567890, "é\n\""])
def test_ack_frame_is_the_documents_and_answers_the_messages_id(message_id: Any) -> None:
    message = P.classify(_message(ID=_js(message_id)))
    assert isinstance(message, Delivered) and message.id == message_id
    assert P.ack_frame(message) == _fill("ack", ID=_js(message_id))


@pytest.mark.parametrize("sent_at", [math.nan, math.inf, -math.inf])
def test_numbers_that_are_not_json_are_refused_when_building(sent_at: float) -> None:
    with pytest.raises(ValueError):
        P.broadcast_frame("room", 1, "x", sent_at)
    with pytest.raises(ValueError):
        P.broadcast_frame("room", 1, [sent_at], 1.0)


# Server frames: each kind classified.

def _message(**values: str) -> str:
    fields = {"R": '"room"', "ID": '"alice-1"', "M": '"alice"', "B": '"hi"',
              "T": "1764582000.5", "S": "4"}
    return _fill("message", **{**fields, **values})


def test_message_is_delivered_with_sender_id_sent_at_and_seq() -> None:
    event = P.classify(_message(B='{"k":[1,2]}'))
    assert event == Delivered(room="room", sender="alice", id="alice-1", sent_at=1764582000.5,
                              seq=4, body={"k": [1, 2]}, frame=json.loads(_message(
                                  B='{"k":[1,2]}')))
    assert event.kind == "delivered"


def test_replies_are_classified() -> None:
    joined = '{"type":"joined","room":"r","member":"m","members":3}'
    assert P.classify(joined) == Joined("r", "m", 3, json.loads(joined))
    assert P.classify('{"type":"left","room":"r"}') == Left("r", {"type": "left", "room": "r"})
    broadcasted = '{"type":"broadcasted","room":"r","id":"m-1","recipients":2}'
    assert P.classify(broadcasted) == Broadcasted("r", "m-1", 2, json.loads(broadcasted))
    error = _fill("error", C='"not_in_room"', D='"leave for a room you are not in"')
    assert P.classify(error) == ErrorReply("not_in_room", "leave for a room you are not in",
                                           json.loads(error))


def test_documented_replies_have_the_documented_fields() -> None:
    """The answers column of the client table, filled in, classifies to its event."""
    answers = re.findall(r'`(\{"type":"(?:joined|left|broadcasted)"[^`]*\})`', DOC)
    assert len(answers) == 3
    values = {"R": '"r"', "M": '"m"', "N": "2", "ID": "9"}
    events = [P.classify(re.sub(r"(?<=:)([A-Z]+)(?=[,}])", lambda m: values[m.group(1)],
                                answer)) for answer in answers]
    assert events == [Joined("r", "m", 2, events[0].frame), Left("r", events[1].frame),
                      Broadcasted("r", 9, 2, events[2].frame)]


def test_bytes_are_read_as_utf8_text() -> None:
    assert P.classify(_message().encode()) == P.classify(_message())


def test_lenient_where_the_member_does_not_depend_on_a_field() -> None:
    assert P.classify('{"type":"joined"}') == Joined(None, None, None, {"type": "joined"})
    assert P.classify('{"type":"broadcasted","id":true,"recipients":"2"}') == Broadcasted(
        None, None, None, {"type": "broadcasted", "id": True, "recipients": "2"})
    assert P.classify('{"type":"error"}') == ErrorReply(None, None, {"type": "error"})
    event = P.classify('{"type":"message","id":1}')
    assert event == Delivered(None, None, 1, None, None, None, {"type": "message", "id": 1})


# sent_at: the sender's float, exactly.

@pytest.mark.parametrize("sent_at", [1796625945.3454201, 1764582000.123456, 0.1, 1e-7, 5e-324,
                                     1.7976931348623157e308, 1764582000.0, 2.0**53 + 2])
def test_sent_at_passes_through_exactly(sent_at: float) -> None:
    assert _echoed_sent_at(sent_at) == sent_at


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_sent_at_passes_through_exactly(sent_at: float) -> None:
    assert _echoed_sent_at(sent_at) == sent_at


def _echoed_sent_at(sent_at: float) -> float | None:
    """What a receiver reads when the server passes the sender's ``sent_at`` text on."""
    text = re.search(r',"sent_at":([^,}]+)\}$', P.broadcast_frame("r", 1, "x", sent_at))
    assert text is not None
    event = P.classify(_message(T=text.group(1)))
    assert isinstance(event, Delivered)
    assert type(event.sent_at) is float
    return event.sent_at


@pytest.mark.parametrize("text, seconds", [
    ("1764582000", 1764582000.0),  # the server keeps integers as integers
    ("12345678901234567890", 12345678901234567890.0),
    ("1.5E9", 1.5e9),
    ("-0.0", 0.0),
    ("1" + "0" * 400, None),  # no double holds it: no latency, but still delivered
    ('"now"', None),
    ("true", None),
    ("null", None),
])
def test_sent_at_texts_are_read_as_floats(text: str, seconds: float | None) -> None:
    event = P.classify(_message(T=text))
    assert isinstance(event, Delivered) and event.sent_at == seconds


def test_message_without_sent_at_is_delivered_without_it() -> None:
    event = P.classify('{"type":"message","room":"r","id":"m","from":"a","body":1,"seq":1}')
    assert isinstance(event, Delivered) and event.sent_at is None


# Frames the protocol cannot read: an event with a reason, never an exception.

@pytest.mark.parametrize("raw, reason", [
    ("", "not JSON"),
    ("{", "not JSON"),
    ("NaNa", "not JSON"),
    (b"\xff\xfe{", "not JSON"),
    ("[" * 100_000, "not JSON"),
    ('{"type":"message","id":1' + "0" * 5000 + "}", "not JSON"),  # over int's digit limit
    ("[]", "not a JSON object"),
    ('"joined"', "not a JSON object"),
    ("null", "not a JSON object"),
    ("{}", "no string type"),
    ('{"type":7}', "no string type"),
    ('{"type":null}', "no string type"),
    ('{"type":"message"}', "message without a string or integer id"),
    ('{"type":"message","id":true}', "message without a string or integer id"),
    ('{"type":"message","id":1.5}', "message without a string or integer id"),
    ('{"type":"message","id":["a"]}', "message without a string or integer id"),
])
def test_unreadable_frames_are_unparseable_with_a_reason(raw: str | bytes, reason: str) -> None:
    event = P.classify(raw)
    assert isinstance(event, Unparseable), event
    assert event.reason.startswith(reason), event.reason
    assert event.raw == raw and event.frame is None and event.kind == "unparseable"


@pytest.mark.parametrize("raw", ['{"type":"pong"}', '{"type":""}', '{"type":"join","room":"r"}'])
def test_unknown_types_are_other_with_a_reason(raw: str) -> None:
    event = P.classify(raw)
    assert isinstance(event, Other) and event.frame == json.loads(raw)
    assert event.reason == f"unknown type {json.loads(raw)['type']!r}"


@given(st.text() | st.binary() | st.builds(
    lambda frame: json.dumps(frame),
    st.dictionaries(st.sampled_from(["type", "id", "room", "from", "sent_at", "seq", "body",
                                     "code", "members", "recipients"]),
                    st.sampled_from(["message", "joined", "left", "broadcasted", "error"])
                    | st.integers() | st.floats(allow_nan=False) | st.none() | st.booleans()
                    | st.text(max_size=3))))
def test_classify_never_raises(raw: str | bytes) -> None:
    assert isinstance(P.classify(raw), Event)


# The interface and the registry.

def test_registry_names_roomchaos() -> None:
    assert PROTOCOLS["roomchaos"] is RoomChaos
    assert all(cls.name == name for name, cls in PROTOCOLS.items())
    assert isinstance(ROOMCHAOS, ClientProtocol) and ROOMCHAOS.name == "roomchaos"


def test_roomchaos_joins_by_frame_on_the_url_it_is_given() -> None:
    assert P.connect_url("ws://h:1/ws", "r", "m") == "ws://h:1/ws"


def test_events_of_different_kinds_never_compare_equal() -> None:
    assert Left("r") != Joined("r", None, None)
    assert {cls.kind for cls in (Joined, Left, Broadcasted, Delivered, ErrorReply, Other,
                                 Unparseable)} == {"joined", "left", "broadcasted", "delivered",
                                                   "error", "other", "unparseable"}


def test_acks_false_sends_no_ack_and_reads_the_same() -> None:
    quiet = build_protocol({"kind": "roomchaos", "acks": False})
    message = Delivered("r", "fast-1", "fast-1-1", None, None)
    assert quiet.ack_frame(message) is None
    assert build_protocol({"kind": "roomchaos", "acks": True}).ack_frame(message) == \
        P.ack_frame(message)
    frame = '{"type":"message","room":"r","from":"fast-1","id":"fast-1-1","body":"x"}'
    assert quiet.classify(frame) == P.classify(frame)


@pytest.mark.parametrize(("table", "problem"), [
    ({"acks": "no"}, "acks must be true or false"),
    ({"colour": "red"}, "unknown key 'colour'"),
])
def test_roomchaos_settings_are_checked(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build_protocol({"kind": "roomchaos", **table})


@pytest.mark.parametrize(("table", "acks"), [
    ({"kind": "roomchaos"}, False),
    ({}, False),
    ({"kind": "roomchaos", "acks": True}, True),  # the scenario's own word stands
    ({"kind": "json"}, None),  # not roomchaos: untouched
])
def test_without_acks_turns_roomchaos_acks_off_unless_the_table_says(
        table: dict[str, Any], acks: bool | None) -> None:
    assert without_acks(table).get("acks") == acks
