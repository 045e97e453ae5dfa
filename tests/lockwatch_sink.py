"""lockwatch tests' shared set-up: options reset around a test, reports kept in memory; scenes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness import lockwatch


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
