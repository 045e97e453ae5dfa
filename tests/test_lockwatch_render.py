"""lockwatch reports: render(), parse_reports(), dict round trips and sinks."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lockwatch
from lockwatch import Party, Report, parse_reports
from lockwatch.gotime import format_duration, parse_duration
from tests.lockwatch_sink import memory_sink, readers_block_a_writer

# From /work/shared/field-notes.md: go-deadlock's output for the article's Room.
GO_ROOM_SAMPLE = """\
POTENTIAL DEADLOCK:
Previous place where the lock was grabbed
goroutine 38 lock 0xc000067810
main.go:79 main.(*Room).Broadcast { r.membersMx.RLock() } <<<<<
...
Have been trying to lock it again for more than 100ms
goroutine 97 lock 0xc000067810
main.go:107 main.(*Room).Add { r.membersMx.Lock() } <<<<<
...
Here is what goroutine 38 doing now
goroutine 38 [select]:
main.(*member).Send(...)
...
Other goroutines holding locks:
goroutine 54 lock 0xc000067d10
...
"""

# From go-deadlock's Readme.md (its sample output, "happend" typo included).
GO_ORDER_SAMPLE = """\
POTENTIAL DEADLOCK: Inconsistent locking. saw this ordering in one goroutine:
happened before
inmem.go:623 bttest.(*server).ReadModifyWriteRow { r.mu.Lock() } <<<<<
inmem_test.go:118 bttest.TestConcurrentMutationsReadModifyAndGC.func4 { _, _ = s.ReadModifyWriteRow(ctx, rmw()) }

happened after
inmem.go:629 bttest.(*server).ReadModifyWriteRow { tbl.mu.RLock() } <<<<<
inmem_test.go:118 bttest.TestConcurrentMutationsReadModifyAndGC.func4 { _, _ = s.ReadModifyWriteRow(ctx, rmw()) }

in another goroutine: happened before
inmem.go:799 bttest.(*table).gc { t.mu.RLock() } <<<<<
inmem_test.go:125 bttest.TestConcurrentMutationsReadModifyAndGC.func5 { tbl.gc() }

happend after
inmem.go:814 bttest.(*table).gc { r.mu.Lock() } <<<<<
inmem_test.go:125 bttest.TestConcurrentMutationsReadModifyAndGC.func5 { tbl.gc() }
"""  # noqa: E501

GO_WAIT_SAMPLE = """\
POTENTIAL DEADLOCK:
Previous place where the lock was grabbed
goroutine 240 lock 0xc820160440
inmem.go:799 bttest.(*table).gc { t.mu.RLock() } <<<<<
inmem_test.go:125 bttest.TestConcurrentMutationsReadModifyAndGC.func5 { tbl.gc() }

Have been trying to lock it again for more than 40ms
goroutine 68 lock 0xc820160440
inmem.go:785 bttest.(*table).mutableRow { t.mu.Lock() } <<<<<
inmem.go:428 bttest.(*server).MutateRow { r := tbl.mutableRow(string(req.RowKey)) }
inmem_test.go:111 bttest.TestConcurrentMutationsReadModifyAndGC.func3 { s.MutateRow(ctx, req) }


Here is what goroutine 240 doing now
goroutine 240 [select]:
github.com/sasha-s/go-deadlock.lock(0xc82028ca10, 0x5189e0, 0xc82013a9b0)
        /Users/sasha/go/src/github.com/sasha-s/go-deadlock/deadlock.go:163 +0x1640
google.golang.org/cloud/bigtable/bttest.(*table).gc(0xc820160440)
        /Users/sasha/go/src/google.golang.org/cloud/bigtable/bttest/inmem.go:814 +0x28d
"""

# Shaped after go-deadlock's deadlock.go: recursion prints "current goroutine".
GO_RECURSIVE_SAMPLE = """\
POTENTIAL DEADLOCK: Recursive locking:
current goroutine 1 lock 0xc00001c0d8
main.go:12 main.main { mu.RLock() } <<<<<

Previous place where the lock was grabbed (same goroutine)
main.go:10 main.main { mu.RLock() } <<<<<

"""


@pytest.fixture
def sink() -> Iterator[lockwatch.MemorySink]:
    with memory_sink(wait_threshold=0.05) as memory:
        yield memory


def party(name: str, site: str, mode: str = "exclusive", kw: str = "task") -> Party:
    return Party(
        name=name,
        ident=f"{kw} 0x{abs(hash(name)) % 10**8:x}",
        mode=mode,  # type: ignore[arg-type]
        acquire_site=site,
        acquire_stack=["app.py:1 in main { await run() }", f"{site} {{ async with lock: }}"],
        current_stack=[
            "app.py:1 in main { await run() }",
            "app.py:90 in send { await ws.send(m) }",
        ],
    )


def wait_report() -> Report:
    return Report(
        kind="wait",
        lock="room:lobby",
        duration_s=0.1,
        time=1700000000.0,
        subject=party("Task-97", "roomserver.py:107 in Room.join", "write"),
        holders=[
            party("Task-38", "roomserver.py:79 in Room.broadcast", "read"),
            party("Task-39", "roomserver.py:79 in Room.broadcast", "read"),
        ],
    )


def live_reports(sink: lockwatch.MemorySink) -> list[Report]:
    """One report of each kind, produced by real locks."""
    lockwatch.configure(hold_threshold=0.05)
    rw = lockwatch.aio.RWLock("room:lobby")
    a, b = lockwatch.aio.Lock("A"), lockwatch.aio.Lock("B")

    async def main() -> None:
        await readers_block_a_writer(rw, 2, 0.2)
        async with a, b:
            pass
        async with b, a:
            pass
        async with rw.read(), rw.read():
            pass

    asyncio.run(main())
    return sink.reports


# Render.


def test_render_wait_has_go_deadlock_sections() -> None:
    text = wait_report().render()
    lines = text.splitlines()
    assert lines[0] == "POTENTIAL DEADLOCK:"
    assert lines.count("Previous place where the lock was grabbed") == 2
    assert "Have been trying to lock it again for more than 100ms" in lines
    assert "roomserver.py:79 in Room.broadcast <<<<<" in lines
    assert "roomserver.py:107 in Room.join <<<<<" in lines
    assert "Here is what task Task-38 doing now" in lines
    assert "Here is what task Task-39 doing now" in lines
    assert any(line.startswith("task Task-97 lock room:lobby [write] <task 0x") for line in lines)
    assert "  app.py:90 in send { await ws.send(m) }" in lines
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_render_headers_of_each_kind(sink: lockwatch.MemorySink) -> None:
    headers = {r.kind: r.render().splitlines()[0] for r in live_reports(sink)}
    assert headers == {
        "wait": "POTENTIAL DEADLOCK:",
        "hold": "POTENTIAL DEADLOCK: Long hold:",
        "order": "POTENTIAL DEADLOCK: Inconsistent locking. saw this ordering in one task:",
        "recursive": "POTENTIAL DEADLOCK: Recursive locking:",
    }


def test_render_order_and_recursive_sections(sink: lockwatch.MemorySink) -> None:
    reports = {r.kind: r for r in live_reports(sink)}
    order_lines = reports["order"].render().splitlines()
    for header in ("happened before", "happened after", "in another task: happened before"):
        assert header in order_lines
    recursive_lines = reports["recursive"].render().splitlines()
    assert recursive_lines[1].startswith("current task ")
    assert "Previous place where the lock was grabbed (same task)" in recursive_lines
    hold_lines = reports["hold"].render().splitlines()
    assert hold_lines[1].startswith("Have been holding the lock for more than ")


# Parse: round trips.


def assert_round_trip(report: Report, back: Report) -> None:
    assert back.kind == report.kind
    assert back.lock == report.lock
    assert back.other_lock == report.other_lock
    assert math.isclose(back.duration_s, report.duration_s, rel_tol=1e-3, abs_tol=1e-3)
    for mine, theirs in [(report.subject, back.subject)] + list(
        zip(report.holders, back.holders, strict=True)
    ):
        assert (theirs.name, theirs.ident, theirs.mode) == (mine.name, mine.ident, mine.mode)
        assert theirs.acquire_site == mine.acquire_site
        assert theirs.acquire_stack == mine.acquire_stack
    assert [p.acquire_site for p in back.earlier] == [p.acquire_site for p in report.earlier]
    assert sorted(p.acquire_site for p in back.other_holders) == sorted(
        p.acquire_site for p in report.other_holders
    )


def test_parse_round_trips_rendered_wait() -> None:
    report = wait_report()
    [back] = parse_reports(report.render())
    assert_round_trip(report, back)
    assert [h.current_stack for h in back.holders] == [h.current_stack for h in report.holders]


def test_parse_round_trips_live_reports(sink: lockwatch.MemorySink) -> None:
    reports = live_reports(sink)
    assert sorted(r.kind for r in reports) == ["hold", "hold", "order", "recursive", "wait"]
    for report in reports:
        if report.kind == "hold":  # the subject comes first when parsed back
            report.holders.sort(key=lambda p: p.ident != report.subject.ident)
        [back] = parse_reports(report.render())
        assert_round_trip(report, back)


def test_parse_reads_many_blocks_and_skips_noise(sink: lockwatch.MemorySink) -> None:
    reports = live_reports(sink)
    text = "starting server\n"
    for report in reports:
        # LoggingSink output puts the first line after a log prefix.
        text += "2026-11-28 10:00:00 WARNING lockwatch: " + report.render()
        text += "INFO some unrelated line\n\n"
    back = parse_reports(text)
    assert [r.kind for r in back] == [r.kind for r in reports]
    assert [r.lock for r in back] == [r.lock for r in reports]


def test_to_dict_from_dict_round_trip(sink: lockwatch.MemorySink) -> None:
    for report in live_reports(sink):
        data = json.loads(json.dumps(report.to_dict()))
        assert Report.from_dict(data) == report
    with pytest.raises(ValueError):
        Report.from_dict({"kind": "nope", "lock": "x"})


names = st.text(
    alphabet=st.characters(
        whitelist_categories=("L", "N", "P", "S"), blacklist_characters="<>[]{}"
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: " lock " not in f" {s} " and s.strip() == s)
sites = st.builds(
    lambda f, n, q: f"{f}.py:{n} in {q}",
    st.from_regex(r"[a-z_/]{1,10}", fullmatch=True),
    st.integers(1, 9999),
    st.from_regex(r"[A-Za-z_.<>]{1,20}", fullmatch=True),
)
parties = st.builds(
    Party,
    name=names,
    ident=st.builds(lambda kw, n: f"{kw} {n}", st.sampled_from(["task", "thread"]), names),
    mode=st.sampled_from(["read", "write", "exclusive"]),
    acquire_site=sites,
    acquire_stack=st.lists(sites, max_size=3),
    current_stack=st.just([]),
)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["wait", "recursive"]),
    lock=names,
    duration=st.floats(0.001, 5000, allow_nan=False),
    subject=parties,
    holders=st.lists(parties, min_size=1, max_size=4),
)
def test_parse_round_trip_property(
    kind: str, lock: str, duration: float, subject: Party, holders: list[Party]
) -> None:
    report = Report(
        kind=kind,  # type: ignore[arg-type]
        lock=lock,
        duration_s=duration if kind == "wait" else 0.0,
        time=0.0,
        subject=subject,
        holders=holders,
    )
    [back] = parse_reports(report.render())
    assert back.kind == report.kind
    assert back.lock == report.lock
    assert back.subject.acquire_site == subject.acquire_site
    assert [h.acquire_site for h in back.holders] == [h.acquire_site for h in holders]
    assert math.isclose(back.duration_s, report.duration_s, rel_tol=1e-3, abs_tol=1e-6)


# Parse: go-deadlock output.


def parse_wait(text: str, lock: str, duration_s: float, subject_site: str) -> Report:
    """The one report in ``text``: a wait on ``lock`` this long, by a subject asking there."""
    [report] = parse_reports(text)
    assert report.kind == "wait"
    assert report.lock == lock
    assert report.duration_s == pytest.approx(duration_s)
    assert report.subject.acquire_site == subject_site
    return report


def test_parse_go_deadlock_room_sample() -> None:
    report = parse_wait(GO_ROOM_SAMPLE, "0xc000067810", 0.1, "main.go:107 main.(*Room).Add")
    assert report.subject.name == "97"
    assert report.subject.ident == "goroutine 97"
    assert report.subject.mode == "write"
    [holder] = report.holders
    assert holder.ident == "goroutine 38"
    assert holder.acquire_site == "main.go:79 main.(*Room).Broadcast"
    assert holder.mode == "read"
    assert holder.acquire_stack[-1] == "main.go:79 main.(*Room).Broadcast { r.membersMx.RLock() }"
    assert holder.current_stack[:2] == ["goroutine 38 [select]:", "main.(*member).Send(...)"]


def test_parse_go_deadlock_readme_wait_sample() -> None:
    report = parse_wait(GO_WAIT_SAMPLE, "0xc820160440", 0.04,
                        "inmem.go:785 bttest.(*table).mutableRow")
    assert report.subject.acquire_stack == [  # innermost last, like Python
        "inmem_test.go:111 bttest.TestConcurrentMutationsReadModifyAndGC.func3"
        " { s.MutateRow(ctx, req) }",
        "inmem.go:428 bttest.(*server).MutateRow { r := tbl.mutableRow(string(req.RowKey)) }",
        "inmem.go:785 bttest.(*table).mutableRow { t.mu.Lock() }",
    ]
    assert [h.acquire_site for h in report.holders] == ["inmem.go:799 bttest.(*table).gc"]
    assert report.holders[0].current_stack[0] == "goroutine 240 [select]:"


def test_parse_go_deadlock_order_sample() -> None:
    [report] = parse_reports(GO_ORDER_SAMPLE)
    assert report.kind == "order"
    assert (report.lock, report.other_lock) == ("r.mu", "t.mu")
    assert report.subject.acquire_site == "inmem.go:814 bttest.(*table).gc"
    assert [p.acquire_site for p in report.earlier] == [
        "inmem.go:623 bttest.(*server).ReadModifyWriteRow",
        "inmem.go:629 bttest.(*server).ReadModifyWriteRow",
    ]
    assert [p.acquire_site for p in report.other_holders] == ["inmem.go:799 bttest.(*table).gc"]
    assert report.earlier[1].mode == "read"


def test_parse_go_deadlock_recursive_sample() -> None:
    [report] = parse_reports(GO_RECURSIVE_SAMPLE)
    assert report.kind == "recursive"
    assert report.lock == "0xc00001c0d8"
    assert report.subject.ident == "goroutine 1"
    assert report.subject.acquire_site == "main.go:12 main.main"
    [holder] = report.holders
    assert holder.ident == "goroutine 1"
    assert holder.acquire_site == "main.go:10 main.main"


def test_parse_mixed_go_text_and_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "locks.jsonl"
    sink = lockwatch.JsonlSink(path)
    sink.emit(wait_report())
    text = GO_ROOM_SAMPLE + "\n" + path.read_text() + "garbage line\n" + GO_ORDER_SAMPLE
    assert [(r.kind, r.lock) for r in parse_reports(text)] == [
        ("wait", "0xc000067810"),
        ("wait", "room:lobby"),
        ("order", "r.mu"),
    ]
    assert parse_reports('nothing to see\n{"not": "a report"}\n') == []


def test_go_durations() -> None:
    assert parse_duration("100ms") == pytest.approx(0.1)
    assert parse_duration("1m30.5s") == pytest.approx(90.5)
    assert parse_duration("1h0m0s") == pytest.approx(3600)
    assert parse_duration("250µs") == pytest.approx(0.00025)
    assert parse_duration("0") == 0
    with pytest.raises(ValueError):
        parse_duration("soon")
    for seconds in (0.0, 4e-7, 0.00025, 0.1, 0.0523, 2.5, 30, 90.5, 3725.25):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-6)
    assert format_duration(0.1) == "100ms"
    assert format_duration(30) == "30s"
    assert format_duration(90.5) == "1m30.5s"


# Sinks.


def test_jsonl_sink_appends_one_line_per_report(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    sink = lockwatch.JsonlSink(str(path))
    sink.emit(wait_report())
    sink.emit(wait_report())
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == wait_report().to_dict()
    assert parse_reports(path.read_text()) == [wait_report(), wait_report()]


def test_jsonl_sink_with_real_locks(tmp_path: Path, sink: lockwatch.MemorySink) -> None:
    path = tmp_path / "reports.jsonl"
    lockwatch.configure(sinks=[lockwatch.JsonlSink(path)], hold_threshold=0.05)
    lock = lockwatch.threads.Lock("jsonl")
    with lock:
        time.sleep(0.2)
    [report] = parse_reports(path.read_text())
    assert (report.kind, report.lock) == ("hold", "jsonl")


def test_memory_sink_keeps_the_latest() -> None:
    sink = lockwatch.MemorySink(maxlen=2)
    for i in range(3):
        report = wait_report()
        report.lock = f"lock{i}"
        sink.emit(report)
    assert [r.lock for r in sink.reports] == ["lock1", "lock2"]
    assert len(sink) == 2
    sink.reports.clear()  # a copy
    assert len(sink) == 2
    sink.clear()
    assert sink.reports == []


def test_callback_sink_calls_back() -> None:
    got: list[Report] = []
    lockwatch.CallbackSink(got.append).emit(wait_report())
    assert got == [wait_report()]


def test_logging_sink_logs_rendered_text_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lockwatch"):
        lockwatch.LoggingSink().emit(wait_report())
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == wait_report().render()
    custom = logging.getLogger("roomserver.locks")
    with caplog.at_level(logging.WARNING, logger="roomserver.locks"):
        lockwatch.LoggingSink(custom).emit(wait_report())
    assert caplog.records[-1].name == "roomserver.locks"
    assert parse_reports(caplog.text)[0].lock == "room:lobby"


def test_default_sink_is_logging(caplog: pytest.LogCaptureFixture) -> None:
    lockwatch.reset()
    try:
        lockwatch.configure(wait_threshold=0.05)
        lock = lockwatch.threads.Lock("default")
        with caplog.at_level(logging.WARNING, logger="lockwatch"):
            with lock:
                thread = threading.Thread(target=lambda: lock.acquire(timeout=0.15))
                thread.start()
                thread.join(5)
        assert [r.kind for r in parse_reports(caplog.text)] == ["wait"]
    finally:
        lockwatch.reset()
