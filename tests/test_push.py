"""Server-push rooms (issue 21): members that only listen, pushes the server originates,
timed by the server's clock, a promised heartbeat or the harness's own HTTP trigger.

Frames, settings and the history's bookkeeping are checked without sockets; then real
harness runs (real Toxiproxy, real Locust, uvicorn in this process) go against
tests/pushservers.py's dashboard with each protocol kind, and the dashboard scenario's stall
runs against its healthy and broken forms (the server launched by the run, in a namespace with
small buffers).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from harness.loadgen.history import DELIVERY_GRACE, OperationHistory
from harness.loadgen.pushes import HEARTBEAT_KEY, PushTimer
from harness.protocols import Answer, Joined, Other, Pushed, build_protocol
from harness.protocols.sendtime import send_time, stamped, unstamped
from harness.push import PushSettings
from harness.push.trigger import TriggerRequest, http_base
from harness.scenario import ScenarioError, load_scenario
from harness.target import PROJECT_ROOT
from tests.pushservers import push_server, socketio_push_server
from tests.test_chaos_run import assert_nothing_left, harness, only_result

SCENARIO_FILE = PROJECT_ROOT / "scenarios" / "dashboard-stalled-member.toml"
PUSH_SERVER = f"{sys.executable} -m tests.pushservers"

#: The plain dashboard's pushes, however a member joins: ticks, each acknowledged.
TICKS = """push = {type = "tick"}
push_fields = {id = "id", sent_at = "at"}
push_ack = {type = "ack", id = "{id}"}
"""

#: The plain dashboard, join by frame, as docs/protocols.md describes it.
FRAME_PROTOCOL = """
[protocol]
kind = "json"
url = "/ws"
join = {type = "join", room = "{room}", member = "{member}"}
joined = {type = "joined"}
leave = {type = "leave"}
left = {type = "left"}
""" + TICKS

#: Join by connecting: the room in the URL, leave by closing.
CONNECT_PROTOCOL = """
[protocol]
kind = "json"
url = "/live?room={room}&member={member}"
""" + TICKS

SOCKETIO_PROTOCOL = """
[protocol]
kind = "socketio"
join = {event = "join", args = [{room = "{room}", member = "{member}"}]}
leave = "disconnect"
push = {event = "task", fields = {id = "0.id", sent_at = "0.at", room = "0.room"}}
"""

USER_PROTOCOL = """
[protocol]
kind = "tests.pushprotocol:DashboardListener"
"""

HEARTBEAT = """
[push]
timing = "heartbeat"
period = "250ms"
"""

SERVER_CLOCK = """
[push]
timing = "server_clock"
"""

TRIGGER = """
[push]
timing = "trigger"

[push.trigger]
url = "/tasks?room={room}"
body = '{"id": "{id}", "text": "{body}"}'
interval = "200ms"
"""

SHORT = """
name = "push-short"
description = "A dashboard's pushes, a short run."

[load]
rooms = 1
members = 4
slow_members = {slow}
spawn_rate = 8
stay = "1500ms"
away = "100ms"

[timing]
warmup = "2s"
fault = "{fault}"
cooldown = "1s"

{faults}

[thresholds]
min_samples = 8
checks = ["join[fast].p99 < 250ms", "deliver[fast].p99 < 250ms", {lost}"errors.ratio < 0.05"]
"""
#: Nothing is owed with ``server_clock`` (no push is promised): its runs judge no loss.
LOST_CHECK = '"deliver[fast].lost < 0.01", '



def _short(directory: Path, protocol: str, push: str, fault: str = "0s", faults: str = "",
           slow: int = 0) -> Path:
    path = directory / "push.toml"
    lost = "" if push == SERVER_CLOCK else LOST_CHECK
    path.write_text(SHORT.replace("{fault}", fault).replace("{faults}", faults)
                    .replace("{slow}", str(slow)).replace("{lost}", lost) + push + protocol)
    return path


# Frames in: no sockets.

def test_json_push_rule_gives_pushed_with_its_fields_and_acks_it() -> None:
    protocol = build_protocol(tomllib.loads(FRAME_PROTOCOL)["protocol"])
    assert not protocol.broadcasts  # no broadcast, no message: its members only listen
    events = protocol.classify('{"type": "tick", "id": "tick-3", "at": 12.5, "ack": true}')
    assert isinstance(events, list) and [type(event) for event in events] == [Answer, Pushed]
    assert json.loads(events[0].reply) == {"type": "ack", "id": "tick-3"}
    assert (events[1].id, events[1].sent_at) == ("tick-3", 12.5)
    assert type(protocol.classify('{"type": "joined", "room": "r"}')) is Joined
    assert type(protocol.classify('{"type": "task", "id": 1}')) is Other  # no rule for it
    with pytest.raises(ValueError, match="no broadcast template"):
        protocol.broadcast_frame("r", "fast-1-1", "hi", 1.0)


def test_socketio_push_event_gives_pushed_and_answers_an_ack() -> None:
    protocol = build_protocol(tomllib.loads(SOCKETIO_PROTOCOL)["protocol"])
    pushed: Any = protocol.classify('42["task",{"id":"push-1-2","at":3.5,"room":"room-0"}]')
    assert pushed == Pushed("room-0", "push-1-2", 3.5, None, pushed.frame)
    answer, acked = cast(Any, protocol.classify('427["task",{"id":"push-1-3"}]'))
    assert type(answer) is Answer and answer.reply == "437[]" and acked.id == "push-1-3"


@pytest.mark.parametrize("description, problem", [
    ({"kind": "json", "push_fields": {"id": "id"}, "broadcast": {"a": "{id}"},
      "message": {"t": "m"}, "message_fields": {"id": "i"}}, "push_fields or push_ack but no push"),
    ({"kind": "json", "push": {"t": "p"}, "broadcast": {"a": "{id}"}},
     "needs broadcast and message together"),
    ({"kind": "json", "push": {"t": "p"}, "push_fields": {"when": "at"}},
     "unknown key 'when' in [protocol] push_fields"),
    ({"kind": "socketio", "push": {"event": "message"}}, "is also the message event"),
    ({"kind": "socketio", "push": {"fields": {}}}, "push must be a table with the event's name"),
])
def test_bad_push_rules_are_refused_in_one_line(description: dict[str, Any],
                                                problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as caught:
        build_protocol(description)
    assert "\n" not in str(caught.value)


# [push]: settings and the trigger's request.

@pytest.mark.parametrize("table, problem", [
    ({"timing": "sometimes"}, "[push] timing must be one of server_clock, heartbeat, trigger"),
    ({"timing": "heartbeat"}, 'needs period, the gap the server promises'),
    ({"timing": "heartbeat", "period": "1ms"}, "[push] period must be at least 50ms"),
    ({"timing": "server_clock", "period": "1s"}, 'period goes with timing = "heartbeat"'),
    ({"timing": "trigger"}, "needs a [push.trigger] table with url"),
    ({"timing": "trigger", "trigger": {"url": "/tasks"}}, "names {id} nowhere"),
    ({"timing": "trigger", "trigger": {"url": "/t/{id}/{member}"}},
     "names unknown placeholder {member}"),
    ({"timing": "trigger", "trigger": {"url": "ftp://x/{id}"}}, "must be a path"),
    ({"timing": "trigger", "trigger": {"url": "/{id}", "method": "BREW"}}, "method must be"),
    ({"timing": "heartbeat", "period": "1s", "colour": 1}, "unknown key 'colour' in [push]"),
])
def test_bad_push_tables_are_refused_in_one_line(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as caught:
        PushSettings.from_table(table)
    assert "\n" not in str(caught.value)


def test_settings_travel_to_locust_unchanged_and_fill_the_trigger() -> None:
    settings = PushSettings.from_table(tomllib.loads(TRIGGER)["push"])
    assert PushSettings.from_json(settings.to_json()) == settings
    assert PushSettings.from_json("") is None
    assert settings.trigger is not None
    request = TriggerRequest.build(settings.trigger, http_base("ws://127.0.0.1:81/ws?x=1"),
                                   {"room": "room 1", "id": "push-9-1", "sent_at": "1.5",
                                    "body": "abc"})
    assert request.url == "http://127.0.0.1:81/tasks?room=room%201"
    assert json.loads(request.body) == {"id": "push-9-1", "text": "abc"}
    assert (request.method, http_base("wss://h:9/")) == ("POST", "https://h:9")


# The history: heartbeats owed from their due time, triggered pushes owed like broadcasts.

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _member(settings: PushSettings) -> tuple[OperationHistory, PushTimer, _Clock, None]:
    clock = _Clock()
    history = OperationHistory(clock=clock, wall=clock)
    history.entered("fast-1", "fast", "room-0")
    timer = PushTimer(settings, history, "fast-1", clock=clock, wall=clock)
    timer.joined()
    return history, timer, clock, None


def test_a_heartbeat_is_timed_by_how_late_it_came_and_owed_from_its_due_time() -> None:
    history, timer, clock, _ = _member(PushSettings("heartbeat", period_s=1.0))
    assert history.waiting() == []  # not due yet: not in flight
    clock.now += 0.9
    assert timer.received(Pushed(None, None, None)) == 0.0  # early is on time
    clock.now += 6.0  # the next was due at 100.9 + 1: five seconds late
    [(operation, age)] = history.waiting()
    assert operation.op == "deliver" and age == pytest.approx(5.0)
    assert timer.received(Pushed(None, None, None)) == pytest.approx(5.0)
    assert history.take()["fast"]["owed"] == 2


def test_heartbeats_that_stop_are_lost_and_unfinished_at_the_end() -> None:
    history, timer, clock, _ = _member(PushSettings("heartbeat", period_s=1.0))
    clock.now += 1.0 + DELIVERY_GRACE + 2.0  # none came
    [unfinished] = history.end_run()
    assert (unfinished.op, unfinished.member) == ("deliver", "fast-1")
    assert history.take()["fast"] == {"owed": 1, "lost": 1}


def test_a_heartbeat_not_yet_due_when_the_member_leaves_is_not_owed() -> None:
    history, timer, clock, _ = _member(PushSettings("heartbeat", period_s=1.0))
    clock.now += 0.5
    timer.left()
    history.leaving("fast-1")
    history.left("fast-1")
    history.closed("fast-1")
    assert history.end_run() == [] and history.take() == {}
    assert timer.received(Pushed(None, None, None)) is None  # out of the room: not timed


def test_a_triggered_push_is_timed_from_the_request_and_owed_to_the_room() -> None:
    history, timer, clock, _ = _member(PushSettings("trigger"))
    clock.now += 0.1  # a member in the room when the request started is owed its push
    first = stamped("push-1-1", clock.now)  # the request's start rides in the id
    history.broadcast("trigger", "room-0", first)
    history.broadcast("trigger", "room-0", stamped("push-1-2", clock.now))
    clock.now += 0.25
    assert timer.received(Pushed("room-0", first, None)) == pytest.approx(0.25)
    assert timer.received(Pushed("room-0", "push-other", None)) is None  # no stamp: untimed
    clock.now += DELIVERY_GRACE
    history.end_run()
    assert history.take()["fast"] == {"owed": 2, "lost": 1}
    assert HEARTBEAT_KEY == "heartbeat"


def test_the_server_clock_times_a_push_by_its_own_timestamp() -> None:
    _, timer, clock, _ = _member(PushSettings("server_clock"))
    assert timer.received(Pushed(None, None, clock.now - 0.125)) == pytest.approx(0.125)
    assert timer.received(Pushed(None, None, None)) is None


# Scenarios.

def test_push_needs_a_protocol_that_recognises_pushes(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\n' + HEARTBEAT)
    with pytest.raises(ScenarioError, match='kind = "roomchaos" has no push rule'):
        load_scenario(path)
    path.write_text('name = "p"\n' + HEARTBEAT + "members_broadcast = true\n" + FRAME_PROTOCOL)
    with pytest.raises(ScenarioError, match="no broadcast frame"):
        load_scenario(path)


def test_the_dashboard_scenario_and_the_docs_example_load() -> None:
    scenario = load_scenario(SCENARIO_FILE)
    assert scenario.push is not None and scenario.push.timing == "trigger"
    assert not scenario.push.members_broadcast
    assert scenario.to_dict()["push"]["trigger"]["url"] == "/tasks?room={room}"
    docs = (PROJECT_ROOT / "docs" / "protocols.md").read_text()
    section = docs[docs.index("## Server-push rooms"):]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    assert example.group(1) == SCENARIO_FILE.read_text()


# Real runs: each protocol kind against the dashboard in this process.

@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """The healthy plain dashboard (a tick every 250 ms, acknowledged), for the module."""
    with push_server("queued", period_s=0.25, acked=True) as url:
        yield url


def _run(tmp_path: Path, scenario: Path, target_url: str) -> tuple[int, dict[str, Any], str]:
    results = tmp_path / "results"
    completed = harness("run", str(scenario), "--target-url", target_url, results=results)
    result = only_result(results)
    assert_nothing_left(result, results)
    return completed.returncode, result, completed.stdout + completed.stderr


@pytest.mark.integration
@pytest.mark.parametrize("protocol, push", [
    (FRAME_PROTOCOL, HEARTBEAT), (CONNECT_PROTOCOL, SERVER_CLOCK), (USER_PROTOCOL, HEARTBEAT),
], ids=["json-frame-heartbeat", "json-connect-server-clock", "user-class-heartbeat"])
def test_listen_only_members_time_the_pushes(tmp_path: Path, dashboard: str, protocol: str,
                                             push: str) -> None:
    code, result, output = _run(tmp_path, _short(tmp_path, protocol, push), dashboard)
    assert (code, result["verdict"]["status"]) == (0, "PASS"), output
    counts = result["counts"] if "counts" in result else {}
    assert "broadcast" not in json.dumps(counts)
    samples = (next((tmp_path / "results").glob("**/samples.jsonl"))).read_text()
    assert '"deliver"' in samples and '"broadcast"' not in samples


@pytest.mark.integration
def test_socketio_pushes_triggered_over_http_pass(tmp_path: Path) -> None:
    with socketio_push_server("queued", period_s=1.0) as url:
        code, result, output = _run(tmp_path, _short(tmp_path, SOCKETIO_PROTOCOL, TRIGGER), url)
    assert (code, result["verdict"]["status"]) == (0, "PASS"), output
    samples = (next((tmp_path / "results").glob("**/samples.jsonl"))).read_text()
    assert '"trigger"' in samples and '"deliver"' in samples


@pytest.mark.integration
def test_pushes_that_stop_are_never_a_pass(tmp_path: Path) -> None:
    # The pushes stop some 6 s after the harness's first probe: about when the fault phase
    # starts. Once they have been seen, it is FAIL (lost); had none come, ERROR (not tested).
    with push_server("silent", period_s=0.25, stop_after_s=6.0) as url:
        code, result, output = _run(tmp_path, _short(tmp_path, FRAME_PROTOCOL, HEARTBEAT,
                                                     fault="4s"), url)
    verdict = result["verdict"]
    assert verdict["status"] in ("FAIL", "ERROR"), output
    assert "deliver[fast]" in verdict["message"], output
    unfinished = (next((tmp_path / "results").glob("**/samples.jsonl"))).read_text()
    assert '"unfinished"' in unfinished


@pytest.mark.integration
def test_the_locked_dashboard_fails_when_a_member_is_only_slow_and_pushes_are_acked(
        tmp_path: Path) -> None:
    latency = '[[faults]]\nkind = "latency"\nlatency = "400ms"\n'
    with push_server("locked", period_s=0.25, acked=True) as url:
        code, result, output = _run(tmp_path, _short(tmp_path, FRAME_PROTOCOL, HEARTBEAT,
                                                     fault="4s", faults=latency, slow=1), url)
    assert result["verdict"]["status"] == "FAIL", output
    assert "join[fast].p99" in output and "deliver[fast].p99" in output


# The dashboard scenario itself: a stall, the server launched in a small-buffer namespace.

def _dashboard_run(tmp_path: Path, mode: str) -> tuple[dict[str, Any], str]:
    text = SCENARIO_FILE.read_text().replace('fault = "6s"', 'fault = "5s"')
    path = tmp_path / "dashboard.toml"
    path.write_text(text)
    results = tmp_path / "results"
    completed = harness("run", str(path), "--target-cmd",
                        f"{PUSH_SERVER} --mode {mode} --port {{port}}", results=results)
    result = only_result(results)
    assert_nothing_left(result, results)
    return result, completed.stdout + completed.stderr


@pytest.mark.integration
def test_the_queued_dashboard_passes_a_stalled_member(tmp_path: Path) -> None:
    result, output = _dashboard_run(tmp_path, "queued")
    assert result["verdict"]["status"] == "PASS", output


@pytest.mark.integration
def test_the_locked_dashboard_fails_a_stalled_member(tmp_path: Path) -> None:
    result, output = _dashboard_run(tmp_path, "locked")
    assert result["verdict"]["status"] == "FAIL", output
    assert "join[fast].p99" in output


# The trigger against the real dashboard: a refused request owes nothing and is an error.

class _Events:
    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []
        self.request = self

    def fire(self, **sample: Any) -> None:
        self.fired.append(sample)


class _Environment:
    def __init__(self) -> None:
        self.events = _Events()


@pytest.mark.parametrize("body, error", [('{"id": "{id}", "text": "{body}"}', None),
                                         ("not json {id}", "HTTP 400")])
def test_a_trigger_request_is_a_sample_and_a_refused_one_owes_nothing(
        dashboard: str, body: str, error: str | None) -> None:
    from harness.loadgen.pushes import TriggerLoop

    settings = PushSettings.from_table({"timing": "trigger", "trigger": {
        "url": "/tasks?room={room}", "body": body}})
    history = OperationHistory()
    history.entered("fast-1", "fast", "room-0")
    history.rooms["room-0"]["fast-1"].joined -= 1.0  # in the room well before the trigger
    environment = _Environment()
    loop = TriggerLoop(environment, settings, history, dashboard + "/ws", 1,
                       timeout_s=5.0, draining=lambda: False)
    loop.fire("room-0")
    [sample] = environment.events.fired
    assert (sample["name"], sample["request_type"]) == ("trigger", "fast")
    owed = history.rooms["room-0"]["fast-1"].owed
    if error is None:
        assert sample["exception"] is None
        [owed_id] = owed  # owed, not yet received; its id carries the request's start
        assert unstamped(owed_id) == f"push-{os.getpid()}-1" and send_time(owed_id) is not None
    else:
        assert error in str(sample["exception"])
        assert owed == {} and history.waiting() == []  # refused: nothing owed or in flight


def test_a_listen_only_class_passes_the_contract() -> None:
    from harness.protocols import check_protocol

    check_protocol({"kind": "tests.pushprotocol:DashboardListener"})
