"""lockwatch, asyncio flavour: aio.Lock and aio.RWLock.

Timing margins are wide on purpose: thresholds are 50 ms and the waits that
should trip them last about 300 ms.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

import lockwatch
from lockwatch import holds, order
from tests import lockwatch_sink
from tests.lockwatch_sink import LONG, THRESHOLD, hold, kinds, memory_sink


@pytest.fixture
def sink() -> Iterator[lockwatch.MemorySink]:
    with memory_sink(wait_threshold=THRESHOLD) as memory:
        yield memory


# Plain lock behaviour.


def test_lock_excludes_and_releases(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("plain")
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        for _ in range(20):
            async with lock:
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0)
                inside -= 1

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(5)))
        assert not lock.locked()
        assert await lock.acquire() is True
        assert lock.locked()
        lock.release()
        with pytest.raises(RuntimeError):
            lock.release()

    asyncio.run(main())
    assert most == 1
    assert holds.held == {}
    assert sink.reports == []


def test_lock_is_fifo(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("fifo")
    order_seen: list[int] = []

    async def worker(i: int) -> None:
        async with lock:
            order_seen.append(i)

    async def main() -> None:
        async with lock:
            tasks = [asyncio.create_task(worker(i)) for i in range(5)]
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert order_seen == [0, 1, 2, 3, 4]


def test_cancelled_waiters_leave_the_lock_usable(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("cancel")

    async def main() -> None:
        await lock.acquire()
        waiter = asyncio.create_task(lock.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # Cancelled right after being handed the lock: it must pass it on.
        handed = asyncio.create_task(lock.acquire())
        await asyncio.sleep(0.01)
        lock.release()
        handed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handed
        assert not lock.locked()
        async with lock:
            pass

    asyncio.run(main())
    assert holds.held == {}


# Wait reports.


def test_wait_report_fires_while_still_waiting(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("room:lobby")
    seen_while_waiting: list[str] = []

    async def holder() -> None:
        async with lock:
            await asyncio.sleep(LONG)

    async def joiner() -> None:
        async with lock:
            pass

    async def main() -> None:
        hold = asyncio.create_task(holder(), name="holder")
        await asyncio.sleep(0.01)
        join = asyncio.create_task(joiner(), name="joiner")
        await asyncio.sleep(LONG / 2)
        assert not join.done()
        seen_while_waiting.extend(kinds(sink))
        await asyncio.gather(hold, join)

    asyncio.run(main())
    assert seen_while_waiting == ["wait"]
    report = lockwatch_sink.only_report(sink, "wait", "room:lobby")
    lockwatch_sink.check_party(report.subject, "joiner", "task 0x",
                               "in test_wait_report_fires_while_still_waiting.<locals>.joiner")
    assert report.subject.mode == "exclusive"
    [held_by] = report.holders
    assert held_by.name == "holder"
    assert "in test_wait_report_fires_while_still_waiting.<locals>.holder" in (held_by.acquire_site)
    assert held_by.acquire_stack[-1].endswith("{ async with lock: }")
    # What the holder is doing now: sleeping, one line below the acquire.
    assert any("await asyncio.sleep(LONG)" in line for line in held_by.current_stack)


def test_no_wait_report_below_threshold(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("quick")

    async def main() -> None:
        await asyncio.gather(*(hold(lock, 0.005) for _ in range(3)))

    asyncio.run(main())
    assert sink.reports == []


def test_rwlock_wait_lists_every_concurrent_reader(sink: lockwatch.MemorySink) -> None:
    """The broadcast-holds-the-read-lock case that go-deadlock misses (its #47)."""
    members = lockwatch.aio.RWLock("room:lobby")
    asyncio.run(lockwatch_sink.readers_block_a_writer(members, 4, LONG))
    assert kinds(sink) == ["wait"]
    report = sink.reports[0]
    assert report.subject.name == "join"
    assert report.subject.mode == "write"
    assert sorted(p.name for p in report.holders) == [f"broadcast-{i}" for i in range(4)]
    assert {p.mode for p in report.holders} == {"read"}
    assert len({p.ident for p in report.holders}) == 4
    for party in report.holders:
        assert "in readers_block_a_writer.<locals>.broadcast" in party.acquire_site
        assert any("asyncio.sleep(hold_s)" in line for line in party.current_stack)


def test_writer_preference_blocks_new_readers(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("pref")
    events: list[str] = []

    async def reader(tag: str, hold_for: float) -> None:
        async with rw.read():
            events.append(f"{tag} in")
            await asyncio.sleep(hold_for)
        events.append(f"{tag} out")

    async def writer() -> None:
        async with rw.write():
            events.append("writer in")
            await asyncio.sleep(0.02)
        events.append("writer out")

    async def main() -> None:
        first = asyncio.create_task(reader("first", 0.1))
        await asyncio.sleep(0.01)
        write = asyncio.create_task(writer())
        await asyncio.sleep(0.01)
        late = asyncio.create_task(reader("late", 0))
        await asyncio.sleep(0.01)
        assert events == ["first in"]  # the late reader queues behind the writer
        await asyncio.gather(first, write, late)

    asyncio.run(main())
    assert events == ["first in", "first out", "writer in", "writer out", "late in", "late out"]


def test_readers_share_and_writers_exclude(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("share")
    readers_inside = 0
    most_readers = 0
    writer_inside = False

    async def reader() -> None:
        nonlocal readers_inside, most_readers
        async with rw.read():
            assert not writer_inside
            readers_inside += 1
            most_readers = max(most_readers, readers_inside)
            await asyncio.sleep(0.005)
            readers_inside -= 1

    async def writer() -> None:
        nonlocal writer_inside
        async with rw.write():
            assert readers_inside == 0 and not writer_inside
            writer_inside = True
            await asyncio.sleep(0.001)
            writer_inside = False

    async def main() -> None:
        await asyncio.gather(*(reader() for _ in range(5)), writer(), *(reader() for _ in range(5)))
        assert not rw.locked()
        await rw.write().acquire()
        assert rw.locked()
        rw.write().release()
        await rw.read().acquire()
        rw.read().release()
        with pytest.raises(RuntimeError):
            rw.read().release()
        with pytest.raises(RuntimeError):
            rw.write().release()

    asyncio.run(main())
    assert most_readers >= 2
    assert holds.held == {}


def test_cancelled_writer_lets_queued_readers_in(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("cancel-writer")

    async def main() -> None:
        await rw.read().acquire()
        writer = asyncio.create_task(rw.write().acquire())
        await asyncio.sleep(0.01)
        reader = asyncio.create_task(rw.read().acquire())
        await asyncio.sleep(0.01)
        assert not reader.done()
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        await asyncio.wait_for(reader, 1)
        assert rw.readers == 2
        rw.read().release()
        rw.read().release()

    asyncio.run(main())


# Hold reports.


def test_hold_report_fires_while_held(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(hold_threshold=THRESHOLD)
    lock = lockwatch.aio.Lock("slow")
    seen_while_held: list[str] = []

    async def main() -> None:
        async with lock:
            await asyncio.sleep(LONG)
            seen_while_held.extend(kinds(sink))

    asyncio.run(main())
    assert seen_while_held == ["hold"]
    report = lockwatch_sink.only_report(sink, "hold", "slow")
    assert "in test_hold_report_fires_while_held.<locals>.main" in report.subject.acquire_site
    assert [p.ident for p in report.holders] == [report.subject.ident]
    assert any("await asyncio.sleep(LONG)" in line for line in report.subject.current_stack)


def test_hold_report_for_a_hold_that_never_ends(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("stuck", hold_threshold=THRESHOLD)

    async def stuck() -> None:
        async with rw.read():
            await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.create_task(stuck(), name="stuck")
        await asyncio.sleep(LONG)
        assert kinds(sink) == ["hold"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert kinds(sink) == ["hold"]
    assert sink.reports[0].subject.name == "stuck"
    assert sink.reports[0].subject.mode == "read"


def test_hold_reports_name_each_long_reader(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("readers", hold_threshold=THRESHOLD)

    async def reader() -> None:
        async with rw.read():
            await asyncio.sleep(LONG)

    async def main() -> None:
        await asyncio.gather(*(asyncio.create_task(reader(), name=f"r{i}") for i in range(3)))

    asyncio.run(main())
    assert kinds(sink) == ["hold"] * 3
    assert sorted(r.subject.name for r in sink.reports) == ["r0", "r1", "r2"]
    assert all(len(r.holders) == 3 for r in sink.reports)


def test_short_holds_are_not_reported(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(hold_threshold=THRESHOLD)
    lock = lockwatch.aio.Lock("short")

    async def main() -> None:
        for _ in range(5):
            async with lock:
                await asyncio.sleep(0.001)
        await asyncio.sleep(THRESHOLD * 2)

    asyncio.run(main())
    assert sink.reports == []


# Order and recursion.


def test_order_inversion_reported_once(sink: lockwatch.MemorySink) -> None:
    a = lockwatch.aio.Lock("A")
    b = lockwatch.aio.Lock("B")

    async def a_then_b() -> None:
        async with a:
            async with b:
                pass

    async def b_then_a() -> None:
        async with b:
            async with a:
                pass

    async def main() -> None:
        await asyncio.create_task(a_then_b(), name="first")
        await asyncio.create_task(b_then_a(), name="second")
        await asyncio.create_task(b_then_a(), name="again")
        await asyncio.create_task(a_then_b(), name="and-again")

    asyncio.run(main())
    assert kinds(sink) == ["order"]
    report = sink.reports[0]
    assert (report.lock, report.other_lock) == ("A", "B")
    assert report.subject.name == "second"
    assert "in test_order_inversion_reported_once.<locals>.b_then_a" in (
        report.subject.acquire_site
    )
    before, after = report.earlier
    assert before.name == after.name == "first"
    assert "a_then_b" in before.acquire_site and "a_then_b" in after.acquire_site
    assert [p.name for p in report.other_holders] == ["second"]
    assert report.holders == []


def test_order_detection_can_be_turned_off(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(order_detection=False)
    a, b = lockwatch.aio.Lock("A"), lockwatch.aio.Lock("B")

    async def main() -> None:
        async with a, b:
            pass
        async with b, a:
            pass

    asyncio.run(main())
    assert sink.reports == []


def test_order_history_is_bounded(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(max_order_pairs=5)
    outer = lockwatch.aio.Lock("outer")
    inners = [lockwatch.aio.Lock(f"inner{i}") for i in range(20)]

    async def main() -> None:
        async with outer:
            for inner in inners:
                async with inner:
                    pass

    asyncio.run(main())
    assert len(order.history) == 5


def test_recursive_lock_reported_before_blocking(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("again")
    reported_at: list[float] = []
    sinks: list[lockwatch.Sink] = [
        sink,
        lockwatch.CallbackSink(lambda r: reported_at.append(time.monotonic())),
    ]
    lockwatch.configure(sinks=sinks, wait_threshold=0)

    async def main() -> None:
        async with lock:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(LONG):  # same task (wait_for would use another)
                    await lock.acquire()
            assert reported_at and reported_at[0] - start < LONG / 2
        assert not lock.locked()

    asyncio.run(main())
    assert kinds(sink) == ["recursive"]
    report = sink.reports[0]
    assert report.lock == "again"
    assert report.subject.acquire_stack[-1].endswith("{ await lock.acquire() }")
    [holder] = report.holders
    assert holder.ident == report.subject.ident
    assert holder.acquire_stack[-1].endswith("{ async with lock: }")


def test_recursive_read_with_waiting_writer_reported(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("members")
    lockwatch.configure(wait_threshold=0)

    async def main() -> None:
        async with rw.read():
            writer = asyncio.create_task(rw.write().acquire())
            await asyncio.sleep(0.01)
            with pytest.raises(TimeoutError):  # writer preference: this deadlocks
                async with asyncio.timeout(0.1):
                    await rw.read().acquire()
        await asyncio.wait_for(writer, 1)
        rw.write().release()

    asyncio.run(main())
    assert kinds(sink) == ["recursive"]
    assert sink.reports[0].subject.mode == "read"


def test_recursive_read_without_writer_reported_and_proceeds(
    sink: lockwatch.MemorySink,
) -> None:
    rw = lockwatch.aio.RWLock("members")

    async def main() -> None:
        async with rw.read():
            async with rw.read():
                assert rw.readers == 2
        assert not rw.locked()

    asyncio.run(main())
    assert kinds(sink) == ["recursive"]
    assert holds.held == {}


def test_recursive_write_reported(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.aio.RWLock("members")
    lockwatch.configure(wait_threshold=0)

    async def main() -> None:
        async with rw.write():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await rw.write().acquire()

    asyncio.run(main())
    assert kinds(sink) == ["recursive"]
    assert sink.reports[0].subject.mode == "write"


# Options.


def test_per_lock_thresholds_override_global(sink: lockwatch.MemorySink) -> None:
    sensitive, quiet = lockwatch_sink.sensitive_and_quiet(lockwatch.aio.Lock)

    async def contend(lock: lockwatch.aio.Lock) -> None:
        first = asyncio.create_task(hold(lock, LONG / 2))
        await asyncio.sleep(0.01)
        await asyncio.gather(first, hold(lock, LONG / 2))

    async def main() -> None:
        await contend(sensitive)
        await contend(quiet)

    asyncio.run(main())
    assert [(r.kind, r.lock) for r in sink.reports] == [("wait", "sensitive")]


def test_per_lock_sinks_override_global(sink: lockwatch.MemorySink) -> None:
    own = lockwatch.MemorySink()
    lock = lockwatch.aio.Lock("own", sinks=[own], hold_threshold=THRESHOLD)

    async def main() -> None:
        async with lock:
            await asyncio.sleep(LONG / 2)

    asyncio.run(main())
    assert sink.reports == []
    assert [r.kind for r in own.reports] == ["hold"]


def test_disabled_mode_reports_nothing_and_still_locks(sink: lockwatch.MemorySink) -> None:
    lock, a, b, rw = lockwatch_sink.locks_while_off(lockwatch.aio)
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        async with lock:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(LONG / 3)
            inside -= 1

    async def main() -> None:
        await asyncio.gather(worker(), worker(), worker())  # waits and holds
        async with a:
            async with b:
                pass
        async with b:
            async with a:  # inversion
                pass
        async with rw.read():
            async with rw.read():  # recursion
                pass
        async with rw.write():
            pass

    asyncio.run(main())
    assert most == 1
    assert sink.reports == []
    assert holds.held == {}


def test_switching_enabled_while_held_stays_consistent(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("switch")
    rw = lockwatch.aio.RWLock("switch-rw")

    async def main() -> None:
        async with lock, rw.read():
            lockwatch.configure(enabled=False)
        assert holds.held == {}
        async with lock, rw.read():
            lockwatch.configure(enabled=True)
        assert not lock.locked() and not rw.locked()

    asyncio.run(main())
    assert holds.held == {}


def test_raising_sink_does_not_break_locking(
    sink: lockwatch.MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    lockwatch.configure(sinks=[lockwatch.CallbackSink(lockwatch_sink.broken_sink), sink])
    lock = lockwatch.aio.Lock("fragile")

    async def holder() -> None:
        async with lock:
            await asyncio.sleep(LONG / 2)

    async def main() -> None:
        first = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        await asyncio.gather(first, holder())
        async with lock:
            pass

    with caplog.at_level(logging.ERROR, logger="lockwatch"):
        asyncio.run(main())
    assert kinds(sink) == ["wait"]  # the next sink still got it
    assert "sink is broken" in caplog.text
    assert not lock.locked()


def test_repr_tells_the_state(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.aio.Lock("plain")
    rw = lockwatch.aio.RWLock("rw")

    async def waiter() -> None:
        async with rw.read():
            pass

    async def main() -> None:
        assert repr(lock) == "<lockwatch.aio.Lock 'plain' [unlocked, waiters:0]>"
        async with lock:
            assert repr(lock) == "<lockwatch.aio.Lock 'plain' [locked, waiters:0]>"
        assert repr(rw) == "<lockwatch.aio.RWLock 'rw' [unlocked, waiters:0]>"
        async with rw.read(), rw.read():  # reported as recursive, which does not matter here
            assert repr(rw) == "<lockwatch.aio.RWLock 'rw' [read-locked x2, waiters:0]>"
        async with rw.write():
            task = asyncio.create_task(waiter())
            await asyncio.sleep(0)
            assert repr(rw) == "<lockwatch.aio.RWLock 'rw' [write-locked, waiters:1]>"
        await task

    asyncio.run(main())
    assert holds.held == {}
