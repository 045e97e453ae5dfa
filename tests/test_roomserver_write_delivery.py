"""``--delivery write``: a member that stops reading, against each mode of the real server.

Four members broadcast fresh random bodies of 32 KiB every 20 ms, without
permessage-deflate (it would cost the server more CPU than this 2-core machine
spares, and shrink repeated bodies to nothing anyway); one member joins and
then stops reading its socket (its transport is paused). With ``write`` delivery
no ack is awaited: a send waits only once the loopback buffers toward the stalled
member are full (a few MB, reached within seconds at this rate). Then:

- ``naive`` holds the room's read lock across that blocked send, so a join waits;
- ``spawn`` keeps joins fast, and its send tasks pile up (``roomserver_pending_sends``);
- ``fixed`` keeps joins fast and disconnects the stalled member's full outbox with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from harness.measure.prometheus import MetricSelector, scrape
from harness.rig.launched import ReferenceTarget
from harness.target import http_base
from tests.roomclient import RoomClient

pytestmark = pytest.mark.integration

ROOM = "lobby"
SENDERS = 4
BODY_BYTES = 32 * 1024
#: Each sender's pause between broadcasts: 4 x 32 KiB every 20 ms is about 6 MB/s.
SEND_INTERVAL = 0.02
#: Seconds of load before the join is timed: long enough to fill the buffers (about 8 MB).
FILL_SECONDS = 4.0
#: A join slower than this counts as blocked; fast joins here take a few ms.
BLOCKED_JOIN_S = 2.0
#: The server's exports read during the load, peak kept.
WATCHED = ('roomserver_info{delivery="write"}', "roomserver_pending_sends",
           "roomserver_slow_consumer_disconnects_total")


def _body() -> str:
    return os.urandom(BODY_BYTES // 2).hex()


async def _broadcast_loop(client: RoomClient, name: str, stop: asyncio.Event) -> None:
    sequence = 0
    while not stop.is_set():
        sequence += 1
        await client.broadcast(ROOM, f"{name}-{sequence}", _body())
        await asyncio.sleep(SEND_INTERVAL)


async def _timed_join(url: str) -> float:
    """The latency of one join, or infinity when it takes longer than BLOCKED_JOIN_S * 2."""
    joiner = await RoomClient.open(url, compress=False)
    try:
        return await asyncio.wait_for(joiner.join(ROOM, "joiner"), BLOCKED_JOIN_S * 2)
    except TimeoutError:
        return float("inf")
    finally:
        await joiner.close()


async def _drive(url: str) -> tuple[float, int | None, dict[str, float]]:
    """Join latency once the stalled member's buffers filled, its close code, peak metrics."""
    senders = [await RoomClient.open(url, compress=False) for _ in range(SENDERS)]
    stalled = await RoomClient.open(url, compress=False)
    for index, client in enumerate(senders):
        await client.join(ROOM, f"sender-{index}")
    await stalled.join(ROOM, "stalled")
    stalled.websocket.transport.pause_reading()
    stop = asyncio.Event()
    loops = [asyncio.create_task(_broadcast_loop(client, f"sender-{index}", stop))
             for index, client in enumerate(senders)]
    peak: dict[str, float] = {}
    deadline = time.monotonic() + FILL_SECONDS
    while time.monotonic() < deadline:
        series = await asyncio.to_thread(scrape, f"{http_base(url)}/metrics")
        for name in WATCHED:
            value = MetricSelector.parse(name).value(series)
            if value is not None:
                peak[name] = max(value, peak.get(name, value))
        await asyncio.sleep(0.2)
    latency = await _timed_join(url)
    stop.set()
    await asyncio.gather(*loops)
    for client in senders:
        await client.close()
    # Read what piled up: a close frame the server sent (fixed's 1008) comes after it.
    stalled.websocket.transport.resume_reading()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stalled.websocket.wait_closed(), 5.0)
    close_code = stalled.websocket.close_code
    await stalled.close()
    return latency, close_code, peak


def _run(mode: str, tmp_path: Path) -> tuple[float, int | None, dict[str, float]]:
    with ReferenceTarget(mode, tmp_path, delivery="write", send_timeout=10.0) as info:
        return asyncio.run(_drive(info.url))


def test_naive_write_delivery_blocks_joins_behind_a_member_that_stopped_reading(
    tmp_path: Path,
) -> None:
    latency, _, peak = _run("naive", tmp_path)
    assert latency > BLOCKED_JOIN_S, f"naive join took {latency:.3f} s, expected more"
    assert peak['roomserver_info{delivery="write"}'] == 1, "the server is not in write delivery"


def test_spawn_write_delivery_keeps_joins_fast_while_send_tasks_pile_up(tmp_path: Path) -> None:
    latency, _, peak = _run("spawn", tmp_path)
    assert latency < 1.0, f"spawn join took {latency:.3f} s, expected < 1 s"
    assert peak["roomserver_pending_sends"] >= 50, peak


def test_fixed_write_delivery_keeps_joins_fast_and_drops_the_stalled_member(
    tmp_path: Path,
) -> None:
    latency, close_code, peak = _run("fixed", tmp_path)
    assert latency < 1.0, f"fixed join took {latency:.3f} s, expected < 1 s"
    assert peak["roomserver_slow_consumer_disconnects_total"] >= 1, peak
    assert close_code == 1008, close_code
