"""``deliver.reordered``, ``deliver.lost`` and ``deliver.duplicated``: counted by the load
generator from real frames, judged by the ``order`` threshold kind.

- :class:`DeliveryOrder` on events: late arrivals, duplicates; streams by ``seq``
  (per connection) and by each sender's counter (per sender, one membership at a time);
- :class:`OperationHistory` on a fake clock: deliveries owed, received, lost at a membership's
  end or the run's; the join and leave races, the own echo, reconnects;
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

from harness.bench.short_scenario import short_slow_member
from harness.loadgen.history import DELIVERY_GRACE, JOIN_RACE, LEAVE_RACE, OperationHistory
from harness.loadgen.order_tracker import DeliveryOrder, OrderRecorder
from harness.measure.delivery_order import DeliveryOrderCounts
from harness.measure.measurements import Measurements
from harness.protocols import ROOMCHAOS, Delivered
from harness.thresholds import parse_check
from tests.roomclient import RoomClient
from tests.test_chaos_run import assert_nothing_left, harness, only_result


def delivered(seq: int | None, message_id: str = "m", sender: str = "a") -> Delivered:
    return Delivered("lobby", sender, message_id, None, seq)


def counts_of(order: DeliveryOrder) -> dict[str, int]:
    return {name: count for name, count in order.take().items() if count}


def test_seq_gaps_filled_later_are_reordered_and_a_number_seen_twice_duplicated() -> None:
    order = DeliveryOrder()
    for seq in (1, 2, 4, 3, 7, 7, 9):
        order.observe(delivered(seq))
    order.close()
    # 3 came after 4: reordered; the second 7: duplicated. 5, 6 and 8 never came: the gaps
    # say nothing about loss (the operation history judges what was owed).
    assert counts_of(order) == {"received": 7, "reordered": 1, "duplicated": 1}


def test_a_very_late_arrival_is_reordered() -> None:
    order = DeliveryOrder()
    order.observe(delivered(1))
    order.observe(delivered(3))
    order.observe(delivered(2))
    assert counts_of(order) == {"received": 3, "reordered": 1}


def test_seq_starts_at_one_per_connection() -> None:
    order = DeliveryOrder()
    order.observe(delivered(3))
    order.close()
    assert counts_of(order) == {"received": 1}
    order.observe(delivered(1))  # a new connection: numbering starts over
    order.joined()  # a join does not end a seq stream: the connection numbers its messages
    order.observe(delivered(2))
    order.close()
    assert counts_of(order) == {"received": 2}


def test_sender_counters_are_judged_within_one_membership() -> None:
    order = DeliveryOrder()
    for counter, sender in ((5, "a"), (6, "a"), (8, "a"), (1, "b"), (3, "b"), (2, "b")):
        order.observe(delivered(None, f"{sender}-{counter}", sender))
    order.joined()
    # Away meanwhile: a's 9..19 were not for this member; its first message sets the start.
    for counter in (20, 21, 7):  # a 7 now is of the earlier membership: not reordered here
        order.observe(delivered(None, f"a-{counter}", "a"))
    order.close()
    assert counts_of(order) == {"received": 9, "reordered": 1, "duplicated": 1}


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


class _Environment:
    """Just what an OrderRecorder reads of Locust's environment (hashable, as Locust's is)."""

    runner = None


def test_the_order_recorder_sums_its_receivers_per_member_kind_at_each_flush() -> None:
    recorder = OrderRecorder(_Environment(), "order.jsonl")
    early, fast, slow = DeliveryOrder(), DeliveryOrder(), DeliveryOrder()
    early.observe(delivered(1))  # before it is tracked: its counts are kept
    for receiver, kind in ((early, "fast"), (fast, "fast"), (slow, "slow")):
        recorder.track(receiver, kind)
    for receiver in (early, fast, slow):
        receiver.observe(delivered(2))
    fast.observe(delivered(2))
    lines = {line["member_kind"]: line for line in recorder.pending_lines()}
    assert {kind: (line["received"], line["duplicated"]) for kind, line in lines.items()} == {
        "fast": (4, 1), "slow": (1, 0)}
    assert recorder.pending_lines() == []  # taken: nothing new since
    fast.observe(delivered(3))  # the receivers go on counting after a flush
    assert [(line["member_kind"], line["received"]) for line in recorder.pending_lines()] == [
        ("fast", 1)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def owed_counts(history: OperationHistory) -> dict[str, dict[str, int]]:
    return {kind: dict(counts) for kind, counts in history.take().items()}


def test_a_broadcast_is_owed_to_every_other_member_in_the_room_and_lost_if_never_received(
) -> None:
    clock = Clock()
    history = OperationHistory(clock)
    for member in ("a", "b", "c"):
        history.entered(member, "fast", "lobby")
    history.entered("d", "slow", "elsewhere")
    clock.now += 0.1
    history.broadcast("a", "lobby", "a-1")  # owed to b and c; not to a (its echo), nor d
    history.received("a", "a-1")  # the echo: nothing owed, nothing matched
    history.received("b", "a-1")
    assert [(op.member, op.op) for op, _ in history.waiting()] == [("c", "deliver")]
    clock.now += DELIVERY_GRACE
    unfinished = history.end_run()
    assert [(entry.member, entry.op, entry.age_s) for entry in unfinished] == [
        ("c", "deliver", DELIVERY_GRACE)]
    assert owed_counts(history) == {"fast": {"owed": 2, "lost": 1}}


def test_a_push_due_later_waits_only_from_when_it_is_due() -> None:
    """A heartbeat owed from a time still to come is not in flight (no negative age, not in
    the live count) until it falls due; one that arrives first is simply done."""
    clock = Clock()
    history = OperationHistory(clock)
    for member in ("a", "b"):
        history.entered(member, "fast", "lobby")
    history.expect("a", "beat-2", due=clock.now + 1.0)
    history.expect("b", "beat-2", due=clock.now + 1.0)
    assert history.waiting() == [] and history.waiting_oldest(10) == {}
    history.received("b", "beat-2")  # early: done before it was due
    clock.now += 1.5
    assert [(op.member, age) for op, age in history.waiting()] == [("a", 0.5)]
    assert history.waiting_oldest(10) == {("deliver", "fast"): (1, [0.5])}
    history.received("a", "beat-2")
    assert history.waiting() == [] and history.waiting_oldest(10) == {}


def test_the_join_and_leave_races_owe_nothing() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    history.entered("a", "fast", "lobby")
    history.broadcast("a", "lobby", "a-1")
    history.entered("b", "fast", "lobby")  # joined after the broadcast: not owed a-1
    clock.now += 0.1
    history.broadcast("a", "lobby", "a-2")
    clock.now += LEAVE_RACE / 2
    history.leaving("b")  # began to leave right after a-2: the server may have seen it first
    clock.now += DELIVERY_GRACE
    history.left("b")
    history.closed("b")
    assert owed_counts(history) == {}
    history.entered("b", "fast", "lobby")  # a reconnect: a new membership
    clock.now += 0.1
    history.broadcast("a", "lobby", "a-3")
    history.broadcast("a", "lobby", "a-4")
    clock.now += LEAVE_RACE
    history.leaving("b")
    history.left("b")  # a leave by frame: what the server queued before may still come
    history.entered("b", "fast", "lobby")  # and a rejoin on the same connection
    history.received("b", "a-3")  # late, but on the same connection: received
    clock.now += DELIVERY_GRACE
    history.closed("b")  # a-4 never came before the connection ended: lost
    history.entered("c", "fast", "lobby")
    clock.now += 0.1
    history.broadcast("a", "lobby", "a-5")
    history.received("c", "a-5")
    assert owed_counts(history) == {"fast": {"owed": 3, "lost": 1}}


def test_a_lost_delivery_is_timed_by_when_its_message_was_sent() -> None:
    clock = Clock()
    history = OperationHistory(clock, wall=lambda: clock.now + 1_000_000.0)
    for member in ("a", "b"):
        history.entered(member, "fast", "lobby")
    history.entered("s", "slow", "lobby")
    clock.now += 0.5
    history.broadcast("a", "lobby", "a-1")  # sent at wall 1_000_100.5, never received
    history.received("s", "a-1")
    clock.now += 2.0
    history.broadcast("a", "lobby", "a-2")  # at 1_000_102.5: b lost it too, s got it
    history.received("s", "a-2")
    clock.now += 0.04
    history.broadcast("a", "lobby", "a-3")  # at 1_000_102.54: the same 0.1 s slot
    history.received("s", "a-3")
    clock.now += DELIVERY_GRACE
    history.closed("b")  # judged now, several seconds after the sends: timed by the send
    assert {kind: dict(times) for kind, times in history.take_lost_sent().items()} == {
        "fast": {1_000_100.5: 1, 1_000_102.5: 2}}
    assert owed_counts(history) == {"fast": {"owed": 3, "lost": 3}, "slow": {"owed": 3}}
    assert history.take_lost_sent() == {}  # taken: starts over


def test_order_lines_carry_the_lost_send_times_and_the_counts_keep_them_apart() -> None:
    counts = DeliveryOrderCounts()
    counts.add({"member_kind": "fast", "owed": 5, "lost": 3,
                "lost_sent": [[1_000_100.5, 1], [1_000_102.5, 2]]})
    counts.add({"member_kind": "slow", "owed": 4})  # an older writer: no lost_sent
    assert counts.lost_sent == [(1_000_100.5, "fast", 1), (1_000_102.5, "fast", 2)]
    assert "lost_sent" not in counts.to_dict()  # result.json's counts stay counts
    assert counts.copy().lost_sent == counts.lost_sent
    for bad in ([[1.0, -1]], [[1.0]], "x", [[float("nan"), 1]]):
        with pytest.raises(ValueError, match="lost_sent"):
            DeliveryOrderCounts().add({"member_kind": "fast", "lost": 1, "lost_sent": bad})


def test_a_join_nothing_confirms_is_owed_only_after_the_join_race() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    history.entered("a", "fast", "lobby")
    history.entered("b", "fast", "lobby", confirmed=False)  # connected: the server may lag
    clock.now += JOIN_RACE / 2
    history.broadcast("a", "lobby", "a-1")  # not owed to b yet
    clock.now += JOIN_RACE
    history.broadcast("a", "lobby", "a-2")
    history.received("b", "a-2")
    assert [operation.member for operation, _ in history.waiting()] == []
    assert owed_counts(history) == {"fast": {"owed": 1}}


def test_a_close_with_messages_maybe_on_their_way_owes_only_the_older_ones() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    history.entered("a", "fast", "lobby")
    history.entered("b", "fast", "lobby")
    history.entered("c", "fast", "lobby")
    clock.now += 0.1
    history.broadcast("a", "lobby", "a-1")
    history.received("c", "a-1")
    clock.now += DELIVERY_GRACE
    history.broadcast("a", "lobby", "a-2")
    history.received("c", "a-2")
    clock.now += LEAVE_RACE
    history.closed("b")  # its own close: a-2 may have been on its way
    assert owed_counts(history) == {"fast": {"owed": 3, "lost": 1}}


def test_a_failed_broadcast_owes_nothing_and_unmatched_ids_judge_nothing() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    history.entered("a", "fast", "lobby")
    history.entered("b", "fast", "lobby")
    clock.now += 0.1
    failed = history.broadcast("a", "lobby", "a-1")
    history.broadcast_failed(failed)
    history.broadcast("a", "lobby", "a-2")
    clock.now += DELIVERY_GRACE
    # No message id ever matched (a protocol that carries other ids): nothing is judged.
    assert history.end_run() == []
    assert owed_counts(history) == {}


def test_operations_in_flight_at_the_end_are_unfinished_with_their_age() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    done = history.invoke("a", "fast", "join")
    history.finish(done)
    history.invoke("b", "slow", "join")
    clock.now += 6.9
    assert [(entry.member, entry.op, entry.age_s) for entry in history.end_run()] == [
        ("b", "join", pytest.approx(6.9))]
    assert history.waiting() == []


def test_the_live_view_reads_only_the_oldest_of_each_op_with_the_count() -> None:
    clock = Clock()
    history = OperationHistory(clock)
    joins = [history.invoke(f"m{index}", "fast", "join") for index in range(5)]
    clock.now += 1.0
    history.invoke("s", "slow", "join")
    history.finish(joins[0])
    history.finish(joins[3])
    clock.now += 1.0
    assert history.waiting_oldest(2) == {("join", "fast"): (3, [2.0, 2.0]),
                                         ("join", "slow"): (1, [1.0])}
    # The full walk agrees with it, oldest first.
    assert [(op.member, age) for op, age in history.waiting()] == [
        ("m1", 2.0), ("m2", 2.0), ("m4", 2.0), ("s", 1.0)]


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


def test_the_lost_ratio_per_member_kind() -> None:
    check = parse_check("deliver[fast].lost < 0.01")
    counts = DeliveryOrderCounts(received=100, lost=3, owed=100)
    counts.kinds = {"fast": {"owed": 50, "lost": 1}, "slow": {"owed": 50, "lost": 2}}
    result = check.evaluate(Measurements(delivery_order=counts), 20)
    assert result.status == "broken" and result.measured == pytest.approx(0.02)
    assert parse_check("deliver[all].lost < 5%").evaluate(
        Measurements(delivery_order=counts), 20).measured == pytest.approx(0.03)
    few = check.evaluate(Measurements(delivery_order=counts), 60)
    assert few.status == "no_data" and "50 deliveries owed, needs 60" in few.describe()
    with pytest.raises(ValueError, match="did you mean 'deliver\\[fast\\].lost'"):
        parse_check("deliver[fast].lots < 0.01")
    with pytest.raises(ValueError, match="unknown member kind"):
        parse_check("deliver[quick].lost < 0.01")
    # Limits follow the ratio rule errors.ratio follows (harness.thresholds.base.ratio_limit).
    for limit, problem in (("5", "fraction from 0 to 1"), ("150%", "above 100%"),
                           ("5ms", "fraction or a percentage")):
        with pytest.raises(ValueError, match=problem):
            parse_check(f"deliver[fast].lost < {limit}")


# A room server that loses and swaps messages on purpose.

class LossyRoom:
    """docs/wire-protocol.md, minimally, with faults: to each receiver, the message numbered
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
    # Numbers 1..30: 5, 15 and 25 dropped (the gaps alone do not count them lost: the
    # operation history judges what was owed); 2, 12 and 22 sent after 3, 13 and 23.
    assert counts_of(order) == {"received": 27, "reordered": 3}


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "order.toml"
    # This test is about order, not the machine: a loaded one must not turn FAIL into ERROR.
    path.write_text(short_slow_member(
        "order", target='send_timeout = "10s"', members=8, fault="2s",
        thresholds='min_samples = 10\nmax_generator_lag = "10s"\n'
                   'checks = ["deliver.lost == 0", "deliver.reordered == 0"]'))
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
