"""lockwatch tests' shared set-up: global options reset around a test, reports kept in memory."""

from __future__ import annotations

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
