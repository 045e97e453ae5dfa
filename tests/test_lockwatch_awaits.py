"""lockwatch: a lock held across network I/O or a reply is reported however short the wait.

The suspend threshold here is 10 s, far longer than any wait in these tests, so
every report below comes from the follower (every suspension of a holder is
classified), never from the duration-based sampler; and the silent cases show
what is not I/O. Real sockets and a real websockets server stand for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

import lockwatch
from lockwatch import suspend
from tests.lockwatch_sink import held_across_await, hold, memory_sink

LONG_THRESHOLD = 10.0
"""The suspend threshold: no wait in these tests comes near it."""


@pytest.fixture
def sink() -> Iterator[lockwatch.MemorySink]:
    with memory_sink(wait_threshold=30.0, suspend_threshold=LONG_THRESHOLD) as memory:
        yield memory


async def ack_soon(ack: asyncio.Future[None]) -> None:
    """A reader task: resolves the ack at the next turn of the loop, as a 0 ms link would."""
    ack.set_result(None)


@contextlib.asynccontextmanager
async def echo_connection() -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A connection to an echo server on the loopback: real network I/O to hold a lock across."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def a_reply() -> None:
    """Await an ack that a reader task resolves at the next turn of the loop."""
    ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.create_task(ack_soon(ack))
    await ack


def test_an_ack_future_set_by_another_task_is_reported_at_once(
    sink: lockwatch.MemorySink,
) -> None:
    lock = lockwatch.aio.RWLock("room.members")

    async def broadcast() -> None:
        async with lock.read():
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.create_task(ack_soon(ack))
            await ack  # the naive server's wait for a member's ack

    async def main() -> None:
        started = time.monotonic()
        await broadcast()
        assert time.monotonic() - started < 1.0

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.lock == "room.members"
    assert report.subject.mode == "read"
    assert report.duration_s < 1.0  # far under the 10 s threshold
    assert report.awaited is not None
    assert report.awaited.startswith("reply (a Future): ")
    assert "broadcast (tests/test_lockwatch_awaits.py:" in report.awaited
    assert report.subject.current_stack[-1].endswith("{ await ack  # the naive server's wait "
                                                     "for a member's ack }")


def test_a_real_socket_read_is_network_io(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("conn")

    async def main() -> None:
        async with echo_connection() as (reader, writer):
            async with lock:
                writer.write(b"ping")
                assert await reader.readexactly(4) == b"ping"  # a loopback round trip

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.awaited is not None
    assert report.awaited.startswith("network (StreamReader.readexactly): ")
    assert report.duration_s < 1.0


def test_a_real_websockets_recv_is_network_io(sink: lockwatch.MemorySink) -> None:
    """The handler runs inside websockets' own frames: only what the lock's frame awaits counts."""
    lock = lockwatch.aio.Lock("room")

    async def main() -> None:
        async def handler(ws: ServerConnection) -> None:
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
                async with lock:
                    await ws.send("hello")
                    assert await ws.recv() == "hello"

    asyncio.run(main())
    reports = held_across_await(sink)
    assert reports, "no report for a lock held across a websockets round trip"
    assert all(r.awaited is not None and r.awaited.startswith("network (websockets Connection.")
               for r in reports), [r.awaited for r in reports]


def test_inside_a_websockets_handler_only_the_await_under_the_lock_decides(
    sink: lockwatch.MemorySink,
) -> None:
    """websockets runs each handler inside its own frames: they must not make a sleep I/O."""
    lock = lockwatch.aio.Lock("room")

    async def main() -> None:
        async def handler(ws: ServerConnection) -> None:
            async for message in ws:
                async with lock:
                    await asyncio.sleep(0.01)  # a timer under the lock: not I/O
                async with lock:
                    await a_reply()  # a reply under the lock
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.awaited is not None and report.awaited.startswith("reply (a Future): ")


def test_a_call_with_timeout_on_an_event_is_a_reply(sink: lockwatch.MemorySink) -> None:
    """python-socketio's ``call`` waits like this: ``wait_for(event.wait(), timeout)``."""
    lock = lockwatch.aio.Lock("room")

    async def main() -> None:
        event = asyncio.Event()
        asyncio.get_running_loop().call_soon(event.set)
        async with lock:
            await asyncio.wait_for(event.wait(), 5)

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.awaited is not None
    assert report.awaited.startswith("reply (Event.wait): "), report.awaited


def test_an_awaited_task_or_gather_is_classified_by_what_it_awaits(
    sink: lockwatch.MemorySink,
) -> None:
    lock = lockwatch.aio.Lock("room")

    async def main() -> None:
        async with echo_connection() as (reader, writer):

            async def round_trip() -> bytes:
                writer.write(b"ping")
                return await reader.readexactly(4)

            async def pause() -> None:
                await asyncio.sleep(0.02)

            async with lock:
                await asyncio.create_task(pause())  # a task that sleeps: a timer, not reported
            async with lock:
                await asyncio.gather(asyncio.sleep(0.02), round_trip())  # a child does I/O

    asyncio.run(main())
    [report] = held_across_await(sink)
    assert report.awaited is not None
    assert report.awaited.startswith("network (StreamReader.readexactly): "), report.awaited


@pytest.mark.parametrize("other", ["asyncio.Lock", "lockwatch.aio.Lock"])
def test_waiting_for_another_lock_is_not_reported(
    sink: lockwatch.MemorySink, other: str
) -> None:
    outer = lockwatch.aio.Lock("outer")

    async def main() -> None:
        inner = asyncio.Lock() if other == "asyncio.Lock" else lockwatch.aio.Lock("inner")

        task = asyncio.create_task(hold(inner, 0.05))
        await asyncio.sleep(0.01)
        async with outer:
            async with inner:  # contended: suspends until the task lets go
                pass
        await task

    asyncio.run(main())
    assert held_across_await(sink) == []


def test_bare_yields_and_short_sleeps_are_not_reported(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("busy")

    async def main() -> None:
        async with lock:
            for _ in range(50):
                await asyncio.sleep(0)
            await asyncio.sleep(0.02)  # a timer, far under the threshold

    asyncio.run(main())
    assert held_across_await(sink) == []


@pytest.mark.parametrize("how", ["allow_io", "suspend_threshold=0"])
def test_a_lock_allowed_across_io_is_not_reported(sink: lockwatch.MemorySink, how: str) -> None:
    allowed = (lockwatch.aio.Lock("tx", allow_io=True) if how == "allow_io"
               else lockwatch.aio.Lock("tx", suspend_threshold=0))

    async def main() -> None:
        async with allowed:
            await a_reply()

    asyncio.run(main())
    assert held_across_await(sink) == []


def test_a_lock_handed_to_a_waiter_is_followed(sink: lockwatch.MemorySink) -> None:
    """The waiter gets the lock from the releaser, then awaits I/O under it."""
    lock = lockwatch.aio.Lock("room")

    waited: list[bool] = []

    async def main() -> None:
        async def second() -> None:
            waited.append(lock.locked())
            async with lock:  # waits, then is handed the lock by the first holder
                await a_reply()

        first = asyncio.create_task(hold(lock, 0.02), name="first")
        await asyncio.sleep(0)  # the first holds the lock before the second asks for it
        await asyncio.gather(first, asyncio.create_task(second(), name="second"))

    asyncio.run(main())
    assert waited == [True]
    [report] = held_across_await(sink)
    assert report.subject.name == "second"


def test_holds_taken_on_the_fast_path_are_followed(sink: lockwatch.MemorySink) -> None:
    """Many tasks take one lock's read side in the same loop turn, each then awaits an ack."""
    lock = lockwatch.aio.RWLock("room")

    async def main() -> None:
        async def broadcast(ack: asyncio.Future[None]) -> None:
            async with lock.read():
                await ack

        acks = [asyncio.get_running_loop().create_future() for _ in range(5)]
        tasks = [asyncio.create_task(broadcast(ack), name=f"b{i}") for i, ack in enumerate(acks)]
        await asyncio.sleep(0)
        for ack in acks:
            ack.set_result(None)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    # One place, one report a second (the rate limit); the first task's.
    [report] = held_across_await(sink)
    assert report.subject.name == "b0"
    assert {holder.name for holder in report.holders} == {f"b{i}" for i in range(5)}


def test_one_place_is_reported_once_a_second_and_each_place_on_its_own(
    sink: lockwatch.MemorySink,
) -> None:
    lock = lockwatch.aio.Lock("room")

    async def send(ack_delay: float) -> None:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(ack_delay, ack.set_result, None)
        await ack

    async def broadcast() -> None:
        async with lock:
            await send(0)

    async def join() -> None:
        async with lock:
            await send(0)

    async def main() -> None:
        for _ in range(30):  # a hot path: 30 broadcasts in well under a second
            await broadcast()
        await join()  # another place: reported although broadcast was, this second
        await asyncio.sleep(suspend.REPEAT_INTERVAL * 1.2)
        await broadcast()  # a second later: reported again

    asyncio.run(main())
    sites = [r.subject.acquire_site.rsplit(" in ", 1)[1] for r in held_across_await(sink)]
    assert sites == ["test_one_place_is_reported_once_a_second_and_each_place_on_its_own."
                     f"<locals>.{name}" for name in ("broadcast", "join", "broadcast")]


def test_the_acquire_path_stays_fast_between_checks() -> None:
    """While the follower has not run, acquires find their task by the lock's entry loop."""
    with memory_sink(suspend_threshold=LONG_THRESHOLD):
        lock = lockwatch.aio.Lock("hot")

        async def main() -> None:
            async with lock:
                pass
            loop = asyncio.get_running_loop()
            assert lock._entry_loop is loop  # bound: the next acquires take the fast path
            await asyncio.sleep(0)  # the follower runs, and unbinds it
            assert lock._entry_loop is None

        asyncio.run(main())
