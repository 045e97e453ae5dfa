"""lockwatch tests' shared set-up: options reset around a test, reports kept in memory; scenes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import lockwatch

THRESHOLD = 0.05
"""The wait (or hold) threshold most lockwatch tests set."""
LONG = 0.3
"""How long a test holds or waits to trip :data:`THRESHOLD`: six times it, for a busy machine."""


@contextmanager
def memory_sink(**options: Any) -> Iterator[lockwatch.MemorySink]:
    """Reset lockwatch, send every report to a fresh memory sink with ``options``; reset after."""
    lockwatch.reset()
    memory = lockwatch.MemorySink()
    lockwatch.configure(sinks=[memory], **options)
    try:
        yield memory
    finally:
        lockwatch.reset()


def kinds(sink: lockwatch.MemorySink) -> list[str]:
    """The kind of each report ``sink`` got, in order."""
    return [report.kind for report in sink.reports]


def held_across_await(sink: lockwatch.MemorySink) -> list[lockwatch.Report]:
    """The ``held_across_await`` reports ``sink`` got, in order."""
    return [report for report in sink.reports if report.kind == "held_across_await"]


def only_report(sink: lockwatch.MemorySink, kind: str, lock: str) -> lockwatch.Report:
    """The one report ``sink`` got: of ``kind``, on ``lock``, past THRESHOLD and below LONG."""
    assert kinds(sink) == [kind]  # once per wait or hold, not again at release
    report = sink.reports[0]
    assert report.lock == lock
    assert THRESHOLD <= report.duration_s < LONG
    return report


def check_party(party: lockwatch.Party, name: str, ident_prefix: str, site: str) -> None:
    """``party`` is ``name``, its ident starts with ``ident_prefix`` and it asked at ``site``."""
    assert party.name == name
    assert party.ident.startswith(ident_prefix)
    assert site in party.acquire_site


def sensitive_and_quiet(make: Callable[..., Any]) -> tuple[Any, Any]:
    """Two locks from ``make`` whose own wait thresholds beat the global one.

    ``sensitive`` (threshold THRESHOLD) is made while the global threshold is 30 s,
    ``quiet`` (waits off) while it is THRESHOLD; the global one stays at THRESHOLD.
    """
    lockwatch.configure(wait_threshold=30)
    sensitive = make("sensitive", wait_threshold=THRESHOLD)
    lockwatch.configure(wait_threshold=THRESHOLD)
    quiet = make("quiet", wait_threshold=0)
    return sensitive, quiet


def locks_while_off(flavour: Any) -> tuple[Any, Any, Any, Any]:
    """Lockwatch off (with a hold threshold that would fire), then ``flavour``'s locks.

    Returns a ``Lock`` "off", two ``Lock`` "A" and "B", and an ``RWLock`` "rw".
    """
    lockwatch.configure(enabled=False, hold_threshold=THRESHOLD)
    return flavour.Lock("off"), flavour.Lock("A"), flavour.Lock("B"), flavour.RWLock("rw")


def broken_sink(report: lockwatch.Report) -> None:
    """A sink that fails on every report."""
    raise ValueError("sink is broken")


class AsyncLock(Protocol):
    """What ``async with`` needs of a lock: asyncio's, or lockwatch's (whose fast paths
    return futures, not coroutines)."""

    def __aenter__(self) -> Awaitable[Any]: ...

    def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Awaitable[Any]: ...


async def hold(lock: AsyncLock, seconds: float) -> None:
    """Hold ``lock`` (an asyncio or lockwatch lock, or a side of an RWLock) for ``seconds``."""
    async with lock:
        await asyncio.sleep(seconds)


async def readers_block_a_writer(rw: lockwatch.aio.RWLock, readers: int, hold_s: float) -> None:
    """Tasks ``broadcast-0``... read-hold ``rw`` for ``hold_s``; meanwhile ``join`` asks to write.

    The room server's case: broadcasts hold the members' read lock while a join waits.
    """

    async def broadcast() -> None:
        async with rw.read():
            await asyncio.sleep(hold_s)

    async def join() -> None:
        async with rw.write():
            pass

    holders = [asyncio.create_task(broadcast(), name=f"broadcast-{i}") for i in range(readers)]
    await asyncio.sleep(0.01)
    assert rw.readers == readers
    await asyncio.gather(*holders, asyncio.create_task(join(), name="join"))
