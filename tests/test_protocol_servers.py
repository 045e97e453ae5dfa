"""Servers nobody here wrote (issue 19): real runs with scenarios that need no class of ours.

Each shape of tests/chatservers.py and tests/socketiochat.py, described in ``[protocol]``
from docs/protocols.md alone, runs through the real harness (real Toxiproxy, real Locust):

- healthy, it PASSes with ``deliver.lost``, ``duplicated`` and ``reordered`` at 0;
- under a stall of one member, the healthy server still PASSes and its broken twin (one
  lock held across its blocking sends) FAILs: with no lock reports from these servers, the
  FAIL comes from join or delivery latency.

A user's own class (tests/binaryprotocol.py, written from the documented contract) does the
same for a binary protocol no kind speaks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.binaryprotocol import BinaryRooms
from tests.chatservers import binary_server, hub_server, messaging_server
from tests.scenario_text import room_scenario, stall_of_one_in_four
from tests.socketiochat import chat_server
from tests.test_chaos_run import assert_nothing_left, harness, only_result
from tests.test_protocol_json import _assert_no_member_crashed

#: The JSON messaging server: a connect command first, command ids, {} pings, batches.
MESSAGING_PROTOCOL = """
[protocol]
kind = "json"
handshake = [{send = {id = "{cmd}", connect = {name = "{member}"}}}]
reply_id = "id"
join = {id = "{cmd}", subscribe = {channel = "{room}"}}
leave = {id = "{cmd}", unsubscribe = {channel = "{room}"}}
answers = [{equals = {}, reply = {}}]
separator = "\\n"
message = {"push.pub" = "*"}
error = {error = "*"}
error_fields = {code = "error.code", detail = "error.message"}

[protocol.broadcast]
id = "{cmd}"
publish = {channel = "{room}", data = {id = "{id}", at = "{sent_at}", text = "{body}"}}

[protocol.message_fields]
id = "push.pub.data.id"
sent_at = "push.pub.data.at"
body = "push.pub.data.text"
"""

#: The Go chat hub: join by connecting, raw relay to everyone (the sender too), batches.
HUB_PROTOCOL = """
[protocol]
kind = "json"
separator = "\\n"
broadcast = {from = "{member}", id = "{id}", at = "{sent_at}", text = "{body}"}
message = {id = "*"}
message_fields = {id = "id", sender = "from", sent_at = "at", body = "text"}
"""

#: The Socket.IO chat example: its own event names, no acks, leave by disconnecting.
CHAT_PROTOCOL = """
[protocol]
kind = "socketio"
join = {event = "add user", args = ["{member}"], confirmed_by = "login"}
leave = "disconnect"

[protocol.broadcast]
event = "new message"
args = [{id = "{id}", at = "{sent_at}", text = "{body}"}]
ack = false

[protocol.message]
event = "new message"
fields = {id = "0.message.id", sent_at = "0.message.at", sender = "0.username"}
"""

BINARY_PROTOCOL = '[protocol]\nkind = "tests.binaryprotocol:BinaryRooms"\n'


def healthy(name: str) -> str:
    """Five members, none slow, broadcasting every 100 ms: no fault, strict checks."""
    return room_scenario(
        f"outside-{name}", members=5, slow_members=0, spawn_rate=10,
        broadcast_interval="100ms", stay="1s", away="100ms", warmup="6s", fault="0s",
        cooldown="0s", thresholds="""
min_samples = 10
checks = ["join[fast].p99 < 500ms", "deliver[fast].p99 < 500ms", "errors.ratio < 0.01",
          "deliver.lost == 0", "deliver.duplicated == 0", "deliver.reordered == 0"]
""")


def stalled(name: str) -> str:
    """One member of four stalled: join and delivery latency are what a broken server FAILs."""
    return stall_of_one_in_four(f"outside-{name}-stall", thresholds="""
min_samples = 10
checks = ["join[fast].p99 < 1s", "deliver[fast].p99 < 1s", "errors.ratio < 0.05"]
""")


Server = Callable[..., contextlib.AbstractContextManager[str]]


@contextlib.contextmanager
def _messaging(broken: bool = False) -> Iterator[str]:
    # A stalled member answers no ping: keep it connected through the stall (Centrifugo
    # would close it, and then nothing would be stalled).
    with messaging_server(broken, pong_timeout=60.0) as url:
        yield url


SERVERS: dict[str, tuple[Server, str]] = {
    "messaging": (_messaging, MESSAGING_PROTOCOL),
    "hub": (hub_server, HUB_PROTOCOL),
    "socketio-chat": (chat_server, CHAT_PROTOCOL),
    "binary": (binary_server, BINARY_PROTOCOL),
}


@pytest.fixture(params=list(SERVERS))
def outside(request: pytest.FixtureRequest) -> tuple[str, Server, str]:
    """Each server of :data:`SERVERS` in turn: its name, how to start it, its ``[protocol]``."""
    name: str = request.param
    return (name, *SERVERS[name])


def run(tmp_path: Path, scenario: str, protocol: str, url: str) -> tuple[int, dict[str, Any]]:
    """One real run; its exit code and result.json (every child gone, no member crashed)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "scenario.toml"
    path.write_text(scenario + protocol)
    results = tmp_path / "results"
    completed = harness("run", str(path), "--target-url", url, results=results, timeout=180)
    result = only_result(results)
    assert_nothing_left(result, results)
    [locust_log] = results.glob("**/locust.log")
    _assert_no_member_crashed(locust_log.read_text())
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    return completed.returncode, result


def _samples(tmp_path: Path) -> list[dict[str, Any]]:
    [samples] = (tmp_path / "results").glob("**/samples.jsonl")
    return [json.loads(line) for line in samples.open()]


@pytest.mark.integration
def test_healthy_server_passes_with_nothing_lost_duplicated_or_reordered(
        tmp_path: Path, outside: tuple[str, Server, str]) -> None:
    name, server, protocol = outside
    with server() as url:
        code, result = run(tmp_path, healthy(name), protocol, url)
    assert code == 0, result["verdict"]
    measured = {check["subject"]: check["measured"] for check in result["verdict"]["checks"]} \
        if "checks" in result["verdict"] else {}
    samples = _samples(tmp_path)
    delivered = [s for s in samples if s["op"] == "deliver" and s["ok"]]
    joins = [s for s in samples if s["op"] == "join" and s["ok"]]
    assert len(delivered) >= 50 and len(joins) >= 10, (len(delivered), len(joins), measured)
    assert all(s["ok"] for s in samples), [s for s in samples if not s["ok"]][:3]


@pytest.mark.integration
def test_messaging_members_answer_pings_and_read_batched_frames(tmp_path: Path) -> None:
    """The server counts the {} answers and the frames it batched; the members read them."""
    stats: dict[str, int] = {}
    with messaging_server(stats=stats, ping_interval=0.2, pong_timeout=2.0) as url:
        code, result = run(tmp_path, healthy("messaging"), MESSAGING_PROTOCOL, url)
    assert code == 0, result["verdict"]
    assert stats["pongs"] >= 20 and stats["no_pong"] == 0, stats
    assert stats["batched"] >= 1, stats


@pytest.mark.integration
def test_under_a_stall_the_healthy_server_passes_and_its_broken_twin_fails(
        tmp_path: Path, outside: tuple[str, Server, str]) -> None:
    name, server, protocol = outside
    with server() as url:
        passed, healthy_result = run(tmp_path / "healthy", stalled(name), protocol, url)
    with server(broken=True) as url:
        broken, broken_result = run(tmp_path / "broken", stalled(name), protocol, url)
    assert passed == 0, healthy_result["verdict"]
    assert broken == 1, broken_result["verdict"]
    failed = json.dumps(broken_result["verdict"])
    assert "join[fast].p99" in failed or "deliver[fast].p99" in failed, failed


@pytest.mark.integration
def test_hub_with_its_same_origin_check_passes(tmp_path: Path) -> None:
    with hub_server(check_origin=True) as url:
        code, result = run(tmp_path, healthy("hub-origin"), HUB_PROTOCOL, url)
    assert code == 0, result["verdict"]


def test_the_binary_class_reads_a_batch_of_records() -> None:
    """The user's class, unit-tested like any Sans-I/O protocol: one frame, three events."""
    from tests.chatservers import binary_record

    protocol = BinaryRooms()
    assert protocol.opened("r", "fast-1") == [binary_record(b"H", "fast-1")]
    events = protocol.classify(binary_record(b"h") + binary_record(b"P", "7")
                               + binary_record(b"m", "fast-2", "fast-2-1", "12.5", "hi"))
    assert [event.kind for event in events] == ["opened", "answer", "delivered"]  # type: ignore[union-attr]


def test_the_hubs_same_origin_check_refuses_another_origin() -> None:
    """The check the test above passes is real: Origin host:port must be the Host."""
    import websocket

    with hub_server(check_origin=True) as url:
        port = url.split(":")[2].split("/")[0]
        ws = websocket.create_connection(url, timeout=5, origin=f"http://127.0.0.1:{port}")
        ws.close()
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            websocket.create_connection(url, timeout=5, origin="http://127.0.0.1:1")
        assert caught.value.status_code == 403
