"""``deliver.reordered``, ``deliver.lost`` and ``deliver.duplicated``: counted by the load
generator from real frames, judged by the ``order`` threshold kind.

- :class:`DeliveryOrder` on events: gaps, late arrivals, duplicates; streams by ``seq``
  (per connection) and by each sender's counter (per sender, one membership at a time);
- real frames: a room server written here that drops and swaps messages on purpose, read
  by the real protocol; then the whole harness against it (``--target-url``) FAILs on
  ``deliver.lost == 0`` and ``deliver.reordered == 0``, and against the bundled fixed server
  both hold, with the counts in result.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from harness.delivery_order import DeliveryOrderCounts
from harness.loadgen.order import LOSS_GRACE, DeliveryOrder
from harness.measurements import Measurements
from harness.protocols import ROOMCHAOS, Delivered
from harness.thresholds import parse_check

from .roomclient import RoomClient
from .test_chaos_run import SHORT_SCENARIO, assert_nothing_left, harness, only_result


def delivered(seq: int | None, message_id: str = "m", sender: str = "a") -> Delivered:
    return Delivered("lobby", sender, message_id, None, seq)


def counts_of(order: DeliveryOrder) -> dict[str, int]:
    return {name: count for name, count in order.take().items() if count}


def test_seq_gaps_filled_later_are_reordered_and_gaps_never_filled_are_lost() -> None:
    order = DeliveryOrder()
    for seq in (1, 2, 4, 3, 7, 7, 9):
        order.observe(delivered(seq))
    order.close()
    # 3 came after 4: reordered; 5, 6 and 8 never came: lost; the second 7: duplicated.
    assert counts_of(order) == {"received": 7, "reordered": 1, "lost": 3, "duplicated": 1}


def test_a_gap_open_for_the_grace_period_is_lost_and_a_later_arrival_reordered() -> None:
    order = DeliveryOrder()
    order.observe(delivered(1), now=100.0)
    order.observe(delivered(3), now=100.0)
    order.expire(now=100.0 + LOSS_GRACE - 0.1)
    assert counts_of(order) == {"received": 2}
    order.expire(now=100.0 + LOSS_GRACE)
    assert counts_of(order) == {"lost": 1}
    order.observe(delivered(2), now=200.0)  # very late after all
    order.close()
    assert counts_of(order) == {"received": 1, "reordered": 1}


def test_seq_starts_at_one_per_connection() -> None:
    order = DeliveryOrder()
    order.observe(delivered(3))
    order.close()
    assert counts_of(order) == {"received": 1, "lost": 2}
    order.observe(delivered(1))  # a new connection: numbering starts over
    order.joined()  # a join does not end a seq stream: the connection numbers its messages
    order.observe(delivered(2))
    order.close()
    assert counts_of(order) == {"received": 2}


def test_sender_counters_are_judged_within_one_membership() -> None:
    order = DeliveryOrder()
    for counter, sender in ((5, "a"), (6, "a"), (8, "a"), (1, "b"), (3, "b"), (2, "b")):
        order.observe(delivered(None, f"{sender}-{counter}", sender))
    order.joined()  # 7 of a never came in that membership: lost
    # Away meanwhile: a's 9..19 were not for this member; its first message sets the start.
    for counter in (20, 21):
        order.observe(delivered(None, f"a-{counter}", "a"))
    order.close()
    assert counts_of(order) == {"received": 8, "reordered": 1, "lost": 1}


def test_the_sender_counter_ends_the_message_id() -> None:
    assert delivered(None, "fast-3-17").counter == 17
    assert Delivered("lobby", "a", 42, None, None).counter == 42
    assert delivered(None, "hello").counter is None
    assert delivered(None, "x-").counter is None


def test_messages_without_a_number_are_not_counted() -> None:
    order = DeliveryOrder()
    order.observe(delivered(None, "no-number-here"))
    order.close()
    assert counts_of(order) == {}


def test_the_order_kind_judges_counts_and_has_no_data_without_messages() -> None:
    lost = parse_check("deliver.lost == 0")
    reordered = parse_check("deliver.reordered == 0")
    assert parse_check("deliver[fast].p99 < 250ms").metric.unit == "ms"  # still latency
    counts = DeliveryOrderCounts(received=50, reordered=0, lost=2)
    assert lost.evaluate(Measurements(delivery_order=counts), 20).status == "broken"
    assert reordered.evaluate(Measurements(delivery_order=counts), 20).status == "holding"
    few = lost.evaluate(Measurements(delivery_order=DeliveryOrderCounts(received=3)), 20)
    assert few.status == "no_data"
    assert few.describe() == "deliver.lost has 3 messages received, needs 20"
    unmeasured = lost.evaluate(Measurements(), 20)
    assert unmeasured.status == "no_data" and "not measured" in unmeasured.describe()
    with pytest.raises(ValueError, match="did you mean 'deliver.lost'"):
        parse_check("deliver.lsot == 0")


# A room server that loses and swaps messages on purpose.

class LossyRoom:
    """docs/protocol.md, minimally, with faults: to each receiver, the message numbered
    ``10k + 5`` is never sent, and ``10k + 2`` is sent after ``10k + 3``."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, ServerConnection]] = {}
        self.seq: dict[ServerConnection, int] = {}
        self.held: dict[ServerConnection, str] = {}

    async def deliver(self, receiver: ServerConnection, frame: dict[str, Any]) -> None:
        seq = self.seq[receiver] = self.seq.get(receiver, 0) + 1
        text = json.dumps({**frame, "seq": seq})
        if seq % 10 == 5:
            return
        if seq % 10 == 2:
            self.held[receiver] = text
            return
        await receiver.send(text)
        if seq % 10 == 3 and receiver in self.held:
            await receiver.send(self.held.pop(receiver))

    async def handle(self, websocket: ServerConnection) -> None:
        rooms: dict[str, str] = {}
        try:
            async for raw in websocket:
                frame = json.loads(raw)
                room = frame.get("room", "")
                if frame["type"] == "join":
                    rooms[room] = frame["member"]
                    self.members.setdefault(room, {})[frame["member"]] = websocket
                    reply = {"type": "joined", "room": room, "member": frame["member"],
                             "members": len(self.members[room])}
                elif frame["type"] == "leave":
                    self.members.get(room, {}).pop(rooms.pop(room, ""), None)
                    reply = {"type": "left", "room": room}
                elif frame["type"] == "broadcast":
                    others = [ws for name, ws in self.members.get(room, {}).items()
                              if ws is not websocket]
                    message = {"type": "message", "room": room, "id": frame["id"],
                               "from": rooms.get(room), "body": frame["body"],
                               "sent_at": frame["sent_at"]}
                    for other in others:
                        with contextlib.suppress(ConnectionClosed):
                            await self.deliver(other, message)
                    reply = {"type": "broadcasted", "room": room, "id": frame["id"],
                             "recipients": len(others)}
                else:
                    continue  # acks
                await websocket.send(json.dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            for room, member in rooms.items():
                self.members.get(room, {}).pop(member, None)


@contextlib.contextmanager
def lossy_server() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        async with serve(LossyRoom().handle, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            ready.set_result(f"ws://127.0.0.1:{port}/ws")
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 10), loop)
    try:
        yield url.result(10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


async def _receive_from(url: str, count: int) -> DeliveryOrder:
    sender, receiver = await RoomClient.open(url), await RoomClient.open(url)
    await receiver.join("lobby", "receiver")
    await sender.join("lobby", "sender")
    for index in range(count):
        await sender.request(ROOMCHAOS.broadcast_frame("lobby", f"sender-{index + 1}", "x", 1.0))
    await asyncio.sleep(0.3)
    order = DeliveryOrder()
    for raw in receiver.raw_messages:
        event = ROOMCHAOS.classify(raw)
        assert isinstance(event, Delivered)
        order.observe(event)
    order.close()
    await sender.close()
    await receiver.close()
    return order


@pytest.mark.integration
def test_real_frames_from_a_server_that_drops_and_swaps_messages() -> None:
    with lossy_server() as url:
        order = asyncio.run(_receive_from(url, 30))
    # Numbers 1..30: 5, 15 and 25 dropped; 2, 12 and 22 sent after 3, 13 and 23.
    assert counts_of(order) == {"received": 27, "reordered": 3, "lost": 3}


def _scenario(tmp_path: Path) -> Path:
    text = SHORT_SCENARIO.replace("{fault}", "2s").replace('warmup = "3s"', 'warmup = "2s"')
    head, _, _ = text.partition("checks = [")
    path = tmp_path / "order.toml"
    # This test is about order, not the machine: a loaded one must not turn FAIL into ERROR.
    path.write_text(head + 'max_generator_lag = "10s"\n'
                    'checks = ["deliver.lost == 0", "deliver.reordered == 0"]\n')
    return path


@pytest.mark.integration
def test_a_run_against_the_lossy_server_fails_on_loss_and_order(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with lossy_server() as url:
        completed = harness("run", str(_scenario(tmp_path)), "--target-url", url,
                            results=results)
    result = only_result(results)
    assert completed.returncode == 1, (completed.stdout, completed.stderr)
    measured = result["measured"]["delivery_order"]
    assert measured["received"] >= 20, measured
    assert measured["lost"] >= 1 and measured["reordered"] >= 1, measured
    assert "deliver.lost = " in result["verdict"]["message"]
    assert "deliver.reordered = " in result["verdict"]["message"]


@pytest.mark.integration
def test_a_run_against_the_fixed_server_loses_and_reorders_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    completed = harness("run", str(_scenario(tmp_path)), "--mode", "fixed", results=results)
    result = only_result(results)
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    measured = result["measured"]["delivery_order"]
    assert measured["received"] >= 20 and measured["lost"] == measured["reordered"] == 0
    assert_nothing_left(result, results)
