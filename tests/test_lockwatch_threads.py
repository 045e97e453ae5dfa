"""lockwatch, threading flavour: threads.Lock, threads.RLock and threads.RWLock.

Timing margins are wide on purpose: thresholds are 50 ms and the waits that
should trip them last about 300 ms. Every thread is a daemon joined with a
timeout, so a bug fails a test instead of hanging the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import lockwatch
from lockwatch import holds
from tests import lockwatch_sink
from tests.lockwatch_sink import LONG, THRESHOLD, kinds, memory_sink


@pytest.fixture
def sink() -> Iterator[lockwatch.MemorySink]:
    with memory_sink(wait_threshold=THRESHOLD) as memory:
        yield memory


def start(target: Callable[[], object], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive(), f"{thread.name} is stuck"


# Plain lock behaviour.


def test_lock_excludes_and_releases(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.Lock("plain")
    counter = 0

    def worker() -> None:
        nonlocal counter
        for _ in range(200):
            with lock:
                value = counter
                time.sleep(0)
                counter = value + 1

    join(*(start(worker, f"w{i}") for i in range(4)))
    assert counter == 800
    assert not lock.locked()
    assert lock.acquire()
    assert not lock.acquire(blocking=False)
    assert not lock.acquire(timeout=0.01)
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    with pytest.raises(ValueError):
        lock.acquire(timeout=-5)
    with pytest.raises(ValueError):
        lockwatch.threads.RWLock("rw").read().acquire(False, 1)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    assert holds.held == {}


def test_lock_released_by_another_thread(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.Lock("handover")
    lock.acquire()
    join(start(lock.release, "releaser"))
    assert not lock.locked()
    assert holds.held == {}


def test_rlock_is_reentrant_and_not_reported(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.RLock("re")
    with lock:
        with lock:
            assert lock.acquire(blocking=False)
            lock.release()
    assert sink.reports == []
    assert holds.held == {}
    with pytest.raises(RuntimeError):
        lock.release()

    acquired = []
    lock.acquire()
    thread = start(lambda: acquired.append(lock.acquire(timeout=0.05)), "other")
    join(thread)
    lock.release()
    assert acquired == [False]


def test_rlock_works_with_condition(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.RLock("cond")
    condition = threading.Condition(lock)  # type: ignore[arg-type]
    items: list[int] = []

    def producer() -> None:
        time.sleep(0.02)
        with condition:
            items.append(1)
            condition.notify()

    thread = start(producer, "producer")
    with condition:
        with lock:  # a second level, released and restored by wait()
            assert condition.wait_for(lambda: items, timeout=5)
    join(thread)
    assert holds.held == {}


# Wait reports.


def test_wait_report_fires_while_still_waiting(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.Lock("room:lobby")
    release = threading.Event()
    got_it = threading.Event()

    def holder() -> None:
        with lock:
            release.wait(5)

    def joiner() -> None:
        with lock:
            got_it.set()

    first = start(holder, "holder")
    time.sleep(0.01)
    second = start(joiner, "joiner")
    time.sleep(LONG)
    assert not got_it.is_set()
    assert kinds(sink) == ["wait"]  # fired while still waiting
    release.set()
    join(first, second)
    report = lockwatch_sink.only_report(sink, "wait", "room:lobby")
    lockwatch_sink.check_party(report.subject, "joiner", "thread ",
                               "in test_wait_report_fires_while_still_waiting.<locals>.joiner")
    [held_by] = report.holders
    assert held_by.name == "holder"
    assert held_by.acquire_stack[-1].endswith("{ with lock: }")
    assert any("release.wait(5)" in line for line in held_by.current_stack)
    assert not any("_bootstrap" in line for line in held_by.current_stack)


def test_wait_with_timeout_reports_then_gives_up(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.Lock("timeout")
    results: list[bool] = []
    lock.acquire()
    thread = start(lambda: results.append(lock.acquire(timeout=LONG / 2)), "impatient")
    join(thread)
    lock.release()
    assert results == [False]
    assert kinds(sink) == ["wait"]


def test_rwlock_wait_lists_every_concurrent_reader(sink: lockwatch.MemorySink) -> None:
    """The broadcast-holds-the-read-lock case that go-deadlock misses (its #47)."""
    members = lockwatch.threads.RWLock("room:lobby")
    release = threading.Event()

    def broadcast() -> None:
        with members.read():
            release.wait(5)

    def join_room() -> None:
        with members.write():
            pass

    readers = [start(broadcast, f"broadcast-{i}") for i in range(4)]
    deadline = time.monotonic() + 5
    while members.readers < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    writer = start(join_room, "join")
    time.sleep(LONG)
    assert kinds(sink) == ["wait"]
    release.set()
    join(*readers, writer)
    report = sink.reports[0]
    assert report.subject.name == "join"
    assert report.subject.mode == "write"
    assert sorted(p.name for p in report.holders) == [f"broadcast-{i}" for i in range(4)]
    assert {p.mode for p in report.holders} == {"read"}
    for party in report.holders:
        assert any("release.wait(5)" in line for line in party.current_stack)


def test_writer_preference_blocks_new_readers(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.threads.RWLock("pref")
    events: list[str] = []
    release_first = threading.Event()

    def first_reader() -> None:
        with rw.read():
            events.append("first in")
            release_first.wait(5)
        events.append("first out")

    def writer() -> None:
        with rw.write():
            events.append("writer in")
            time.sleep(0.02)
        events.append("writer out")

    def late_reader() -> None:
        with rw.read():
            events.append("late in")

    first = start(first_reader, "first")
    time.sleep(0.02)
    write = start(writer, "writer")
    time.sleep(0.02)
    late = start(late_reader, "late")
    time.sleep(0.05)
    assert events == ["first in"]  # the late reader queues behind the writer
    assert not rw.read().acquire(blocking=False)
    release_first.set()
    join(first, write, late)
    assert events == ["first in", "first out", "writer in", "writer out", "late in"]
    assert holds.held == {}


def test_rwlock_readers_share_writers_exclude(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.threads.RWLock("share")
    state = {"readers": 0, "most": 0, "writer": False}
    mutex = threading.Lock()

    def reader() -> None:
        for _ in range(20):
            with rw.read():
                with mutex:
                    assert not state["writer"]
                    state["readers"] += 1
                    state["most"] = max(state["most"], state["readers"])
                time.sleep(0.001)
                with mutex:
                    state["readers"] -= 1

    def writer() -> None:
        for _ in range(10):
            with rw.write():
                with mutex:
                    assert state["readers"] == 0 and not state["writer"]
                    state["writer"] = True
                time.sleep(0.001)
                with mutex:
                    state["writer"] = False

    join(*(start(reader, f"r{i}") for i in range(4)), start(writer, "w"))
    assert state["most"] >= 2
    assert not rw.locked()
    assert holds.held == {}
    with pytest.raises(RuntimeError):
        rw.read().release()
    with pytest.raises(RuntimeError):
        rw.write().release()


def test_rwlock_timeouts(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.threads.RWLock("timeouts", wait_threshold=0)
    assert rw.write().acquire()
    results: list[bool] = []
    join(start(lambda: results.append(rw.read().acquire(timeout=0.05)), "reader"))
    join(start(lambda: results.append(rw.write().acquire(blocking=False)), "writer"))
    rw.write().release()
    assert results == [False, False]
    assert rw.read().acquire(timeout=0.05)
    rw.read().release()
    assert not rw.locked()


# Hold reports.


def test_hold_report_fires_while_held(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(hold_threshold=THRESHOLD)
    lock = lockwatch.threads.Lock("slow")
    with lock:
        time.sleep(LONG)
        seen_while_held = kinds(sink)
    assert seen_while_held == ["hold"]
    report = lockwatch_sink.only_report(sink, "hold", "slow")
    assert "in test_hold_report_fires_while_held" in report.subject.acquire_site
    assert any("time.sleep(LONG)" in line for line in report.subject.current_stack)


def test_hold_report_for_a_hold_that_never_ends(sink: lockwatch.MemorySink) -> None:
    rw = lockwatch.threads.RWLock("stuck", hold_threshold=THRESHOLD)
    release = threading.Event()

    def stuck() -> None:
        with rw.write():
            release.wait(5)

    thread = start(stuck, "stuck")
    time.sleep(LONG)
    assert kinds(sink) == ["hold"]
    release.set()
    join(thread)
    assert kinds(sink) == ["hold"]
    assert sink.reports[0].subject.name == "stuck"
    assert sink.reports[0].subject.mode == "write"


def test_rlock_hold_report(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.RLock("re", hold_threshold=THRESHOLD)
    with lock:
        with lock:
            time.sleep(LONG)
    assert kinds(sink) == ["hold"]


# Order and recursion.


def test_order_inversion_reported_once(sink: lockwatch.MemorySink) -> None:
    a = lockwatch.threads.Lock("A")
    b = lockwatch.threads.RLock("B")

    def a_then_b() -> None:
        with a:
            with b:
                pass

    def b_then_a() -> None:
        with b:
            with a:
                pass

    join(start(a_then_b, "first"))
    join(start(b_then_a, "second"))
    join(start(b_then_a, "again"))
    assert kinds(sink) == ["order"]
    report = sink.reports[0]
    assert (report.lock, report.other_lock) == ("A", "B")
    assert report.subject.name == "second"
    assert "b_then_a" in report.subject.acquire_site
    assert [p.name for p in report.earlier] == ["first", "first"]
    assert [p.name for p in report.other_holders] == ["second"]


def test_recursive_lock_reported_before_blocking(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(wait_threshold=0)
    lock = lockwatch.threads.Lock("again")
    with lock:
        assert not lock.acquire(timeout=0.1)
        assert not lock.acquire(blocking=False)  # a try-lock cannot deadlock: not reported
    assert kinds(sink) == ["recursive"]
    report = sink.reports[0]
    assert report.subject.acquire_stack[-1].endswith("{ assert not lock.acquire(timeout=0.1) }")
    [holder] = report.holders
    assert holder.ident == report.subject.ident


def test_recursive_read_with_waiting_writer_reported(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(wait_threshold=0)
    rw = lockwatch.threads.RWLock("members")

    def writer_cycle() -> None:
        with rw.write():
            pass

    with rw.read():
        writer = start(writer_cycle, "writer")
        time.sleep(0.05)
        assert not rw.read().acquire(timeout=0.1)  # writer preference: a deadlock
    join(writer)
    assert kinds(sink) == ["recursive"]
    assert sink.reports[0].subject.mode == "read"
    assert holds.held == {}


def test_recursive_read_without_writer_reported_and_proceeds(
    sink: lockwatch.MemorySink,
) -> None:
    rw = lockwatch.threads.RWLock("members")
    with rw.read():
        with rw.read():
            assert rw.readers == 2
    assert kinds(sink) == ["recursive"]
    assert not rw.locked()
    assert holds.held == {}


def test_recursive_write_reported(sink: lockwatch.MemorySink) -> None:
    lockwatch.configure(wait_threshold=0)
    rw = lockwatch.threads.RWLock("members")
    with rw.write():
        assert not rw.write().acquire(timeout=0.05)
    assert kinds(sink) == ["recursive"]
    assert sink.reports[0].subject.mode == "write"


# Options.


def test_per_lock_thresholds_override_global(sink: lockwatch.MemorySink) -> None:
    sensitive, quiet = lockwatch_sink.sensitive_and_quiet(lockwatch.threads.Lock)
    for lock in (sensitive, quiet):
        with lock:
            join(start(lambda: lock.acquire(timeout=LONG / 2), "waiter"))  # noqa: B023
    assert [(r.kind, r.lock) for r in sink.reports] == [("wait", "sensitive")]


def test_disabled_mode_reports_nothing_and_still_locks(sink: lockwatch.MemorySink) -> None:
    lock, a, b, rw = lockwatch_sink.locks_while_off(lockwatch.threads)
    counter = 0

    def worker() -> None:
        nonlocal counter
        with lock:
            value = counter
            time.sleep(LONG / 3)
            counter = value + 1

    join(*(start(worker, f"w{i}") for i in range(3)))
    with a, b:
        pass
    with b, a:
        pass
    with rw.read(), rw.read():
        pass
    with rw.write():
        pass
    assert counter == 3
    assert sink.reports == []
    assert holds.held == {}


def test_raising_sink_does_not_break_locking(
    sink: lockwatch.MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    lockwatch.configure(sinks=[lockwatch.CallbackSink(lockwatch_sink.broken_sink), sink],
                        hold_threshold=THRESHOLD)
    lock = lockwatch.threads.Lock("fragile")
    with caplog.at_level(logging.ERROR, logger="lockwatch"):
        with lock:
            join(start(lambda: lock.acquire(timeout=LONG / 2), "waiter"))
    assert sorted(kinds(sink)) == ["hold", "wait"]
    assert "sink is broken" in caplog.text
    assert not lock.locked()
    with lock:
        pass


def test_repr_tells_the_state(sink: lockwatch.MemorySink) -> None:
    lock = lockwatch.threads.Lock("plain")
    assert repr(lock) == "<lockwatch.threads.Lock 'plain' [unlocked]>"
    with lock:
        assert repr(lock) == "<lockwatch.threads.Lock 'plain' [locked]>"
    rlock = lockwatch.threads.RLock("re")
    assert repr(rlock) == "<lockwatch.threads.RLock 're' [unlocked]>"
    with rlock, rlock:
        owner = threading.get_ident()
        assert repr(rlock) == f"<lockwatch.threads.RLock 're' [owner={owner} count=2]>"
    rw = lockwatch.threads.RWLock("rw")
    assert repr(rw) == "<lockwatch.threads.RWLock 'rw' [unlocked, waiters:0]>"
    with rw.read(), rw.read():  # reported as recursive, which does not matter here
        assert repr(rw) == "<lockwatch.threads.RWLock 'rw' [read-locked x2, waiters:0]>"
    with rw.write():
        assert repr(rw) == "<lockwatch.threads.RWLock 'rw' [write-locked, waiters:0]>"
    assert holds.held == {}
