"""lockwatch: held-across-await reports, on real asyncio code: long suspensions.

The duration-based part of the detector samples, so each case holds a lock
suspended for several times the threshold (50 ms against 300 ms and more): wide
margins for a noisy machine. Reports that need no length (network I/O, replies)
are in test_lockwatch_awaits.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import pytest

import lockwatch
from lockwatch import Report, parse_reports, suspend
from tests.lockwatch_sink import held_across_await, memory_sink

THRESHOLD = 0.05
LONG = 0.4


@pytest.fixture
def sink() -> Iterator[lockwatch.MemorySink]:
    with memory_sink(wait_threshold=10.0, suspend_threshold=THRESHOLD) as memory:
        yield memory


def test_fires_across_an_unresolved_future(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("room.members")

    async def holder(ack: asyncio.Future[None]) -> None:
        async with lock:
            await ack  # like a broadcast waiting for a member's ack

    async def main() -> None:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(holder(ack), name="broadcaster")
        deadline = time.monotonic() + 5
        while not held_across_await(sink) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not ack.done()  # reported while still suspended (after STILL_SUSPENDED)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.lock == "room.members"
    assert report.subject.name == "broadcaster"
    assert suspend.STILL_SUSPENDED <= report.duration_s < 5
    assert "test_lockwatch_suspend.py" in report.subject.acquire_site
    assert report.subject.acquire_site.endswith("<locals>.holder")
    # The stack at the await point ends in the awaiting line.
    assert report.subject.current_stack[-1].endswith("{ await ack  # like a broadcast "
                                                     "waiting for a member's ack }")
    assert report.awaited is not None and "Future pending" in report.awaited
    assert report.awaited.startswith(
        "reply (a Future): test_fires_across_an_unresolved_future.<locals>.holder "
        "(tests/test_lockwatch_suspend.py:")
    assert report.awaited.endswith(" awaits <Future pending cb=[Task.task_wakeup()]>")


def test_fires_across_a_real_socket_drain(sink: lockwatch.MemorySink) -> None:
    """A member that stops reading: the server's drain() waits while holding the lock."""
    lock = lockwatch.aio.RWLock("room.members")
    chunk = b"x" * 65536

    async def main() -> None:
        stalled_client: list[socket.socket] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with lock.read():  # the naive broadcast: write and drain under the lock
                for _ in range(2000):  # bounded: 128 MB at most
                    writer.write(chunk)
                    await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))  # and never reads
        stalled_client.append(client)
        deadline = time.monotonic() + 10
        while not held_across_await(sink) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        client.close()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)

    asyncio.run(main())
    reports = held_across_await(sink)
    assert reports, "no held_across_await report while drain() was blocked"
    report = reports[0]
    assert report.subject.mode == "read"
    assert report.awaited is not None and "drain" in report.awaited.lower()
    assert any("await writer.drain()" in line for line in report.subject.current_stack)


def test_fires_across_a_sleep_and_names_it(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("sleepy")

    async def main() -> None:
        async with lock:
            await asyncio.sleep(LONG)

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.awaited is not None
    assert "main (tests/test_lockwatch_suspend.py:" in report.awaited
    assert "> sleep (asyncio/tasks.py:" in report.awaited
    # Sent when the sleep ended, with its whole length (less the first sampling tick).
    assert LONG * 0.75 <= report.duration_s <= LONG * 3


def test_silent_when_the_lock_is_released_before_the_await(
    sink: lockwatch.MemorySink,
) -> None:
    lock = lockwatch.aio.RWLock("fixed.members")

    async def broadcast(ack: asyncio.Future[None]) -> None:
        async with lock.read():  # the fix: snapshot under the lock...
            members = ["a", "b"]
        await asyncio.wait_for(ack, LONG * 2)  # ...network I/O outside it
        assert members

    async def main() -> None:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(broadcast(ack))
        await asyncio.sleep(LONG)
        ack.set_result(None)
        await task

    asyncio.run(main())
    assert sink.reports == []


def test_silent_for_yields_without_waiting(sink: lockwatch.MemorySink) -> None:
    """``await asyncio.sleep(0)`` gives others a turn but waits on nothing."""
    lock = lockwatch.aio.Lock("busy")

    async def yield_for(seconds: float) -> None:
        """Give the other tasks turns for ``seconds``, waiting on nothing."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0)

    async def main() -> None:
        helper = asyncio.create_task(yield_for(LONG))
        async with lock:
            await yield_for(LONG)
        await helper

    asyncio.run(main())
    assert held_across_await(sink) == []


def test_reported_once_per_suspension(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("twice")

    async def main() -> None:
        async with lock:
            await asyncio.sleep(LONG)  # one report, not one per sample
            await asyncio.sleep(LONG)  # a new suspension: a second report

    asyncio.run(main())
    assert len(held_across_await(sink)) == 2


def test_one_place_is_reported_at_most_once_a_second(sink: lockwatch.MemorySink) -> None:
    """A buggy broadcast suspends under its lock every time; reports must not flood."""
    lock = lockwatch.aio.Lock("flood")

    async def broadcast() -> None:
        async with lock:
            await asyncio.sleep(THRESHOLD * 3)

    async def main() -> None:
        for _ in range(6):  # the same place six times within about 0.9 s
            await broadcast()

    asyncio.run(main())
    # One report per length class (1x, 2x the threshold...) and second, not one per suspension.
    assert 1 <= len(held_across_await(sink)) <= 2


def test_a_longer_suspension_is_reported_after_short_ones(sink: lockwatch.MemorySink) -> None:
    """Fast members' short acks must not hide the slow member's long one at the same place."""
    lock = lockwatch.aio.Lock("room")

    async def broadcast(ack_delay: float) -> None:
        async with lock:
            await asyncio.sleep(ack_delay)

    async def main() -> None:
        for delay in (THRESHOLD * 1.5, THRESHOLD * 1.5, LONG):
            await broadcast(delay)

    asyncio.run(main())
    durations = [report.duration_s for report in held_across_await(sink)]
    assert max(durations) >= LONG * 0.75, durations


def test_off_per_lock_and_globally() -> None:
    lockwatch.reset()
    memory = lockwatch.MemorySink()
    try:
        lockwatch.configure(sinks=[memory], suspend_threshold=THRESHOLD)
        on_purpose = lockwatch.aio.Lock("transaction", suspend_threshold=0)

        async def hold_across_sleep(lock: lockwatch.aio.Lock) -> None:
            async with lock:
                await asyncio.sleep(LONG)

        asyncio.run(hold_across_sleep(on_purpose))
        assert memory.reports == []

        lockwatch.reset()
        lockwatch.configure(sinks=[memory])  # the default: off
        asyncio.run(hold_across_sleep(lockwatch.aio.Lock("plain")))
        assert memory.reports == []
        assert len(suspend.watches) == 0  # no sampler was started

        lockwatch.reset()
        lockwatch.configure(sinks=[memory])
        watched = lockwatch.aio.Lock("own threshold", suspend_threshold=THRESHOLD)
        asyncio.run(hold_across_sleep(watched))
        assert [r.kind for r in memory.reports] == ["held_across_await"]
    finally:
        lockwatch.reset()


def test_render_and_parse_round_trip(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.RWLock("room:lobby.members")

    async def reader(release: asyncio.Event) -> None:
        async with lock.read():
            await release.wait()

    async def main() -> None:
        release = asyncio.Event()
        tasks = [asyncio.create_task(reader(release), name=f"reader-{i}") for i in range(2)]
        deadline = time.monotonic() + 5
        while not held_across_await(sink) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    reports = held_across_await(sink)
    assert reports
    report = reports[0]
    text = report.render()
    lines = text.splitlines()
    assert lines[0] == "POTENTIAL DEADLOCK: Held across await:"
    assert lines[1].startswith("Have been holding the lock while suspended for more than ")
    assert "Awaiting" in lines
    assert any(line.startswith("Here is what task reader-") for line in lines)
    assert "Previous place where the lock was grabbed" in lines  # the other reader
    [back] = parse_reports(text)
    assert back.kind == "held_across_await"
    assert back.lock == report.lock
    assert back.subject.acquire_site == report.subject.acquire_site
    assert back.subject.current_stack == report.subject.current_stack
    assert back.awaited == report.awaited
    assert abs(back.duration_s - report.duration_s) < 0.002
    assert len(back.holders) == 2
    data = json.loads(json.dumps(report.to_dict()))
    assert Report.from_dict(data) == report
