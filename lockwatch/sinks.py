"""Where reports go.

A sink is any object with an ``emit(report)`` method. Sinks run synchronously
in the task or thread that detected the problem, so they should be quick. A sink
that raises is logged and skipped: it never breaks the lock that reported.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from lockwatch.report import Report

__all__ = ["Sink", "CallbackSink", "LoggingSink", "JsonlSink", "MemorySink", "dispatch"]

logger = logging.getLogger("lockwatch")


@runtime_checkable
class Sink(Protocol):
    """Receives reports."""

    def emit(self, report: Report) -> None:
        """Handle one report."""


class CallbackSink:
    """Call ``fn(report)`` for each report, like go-deadlock's ``OnPotentialDeadlock``."""

    def __init__(self, fn: Callable[[Report], None]) -> None:
        self.fn = fn

    def emit(self, report: Report) -> None:
        self.fn(report)

    def __repr__(self) -> str:
        return f"CallbackSink({self.fn!r})"


class LoggingSink:
    """Log ``report.render()`` at WARNING, by default on the ``lockwatch`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("lockwatch")

    def emit(self, report: Report) -> None:
        self.logger.warning("%s", report.render())

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r})"


class JsonlSink:
    """Append one JSON line per report (``report.to_dict()``) to ``path``.

    The file is opened in append mode for each report and closed again, so every
    line is flushed and the sink holds no file descriptor between reports.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._mutex = threading.Lock()  # keeps lines from different threads whole

    def emit(self, report: Report) -> None:
        line = json.dumps(report.to_dict(), ensure_ascii=False) + "\n"
        with self._mutex, open(self.path, "a", encoding="utf-8") as file:
            file.write(line)
            file.flush()

    def __repr__(self) -> str:
        return f"JsonlSink({self.path!r})"


class MemorySink:
    """Keep the last ``maxlen`` reports in memory (e.g. for a ``/debug/locks`` endpoint)."""

    def __init__(self, maxlen: int = 10000) -> None:
        self._reports: collections.deque[Report] = collections.deque(maxlen=maxlen)

    def emit(self, report: Report) -> None:
        self._reports.append(report)

    @property
    def reports(self) -> list[Report]:
        """A copy of the stored reports, oldest first."""
        return list(self._reports)

    def clear(self) -> None:
        """Forget stored reports."""
        self._reports.clear()

    def __len__(self) -> int:
        return len(self._reports)

    def __repr__(self) -> str:
        return f"MemorySink(maxlen={self._reports.maxlen})"


def dispatch(report: Report, sinks: Iterable[Sink]) -> None:
    """Give ``report`` to each sink; log and skip any sink that raises."""
    for sink in sinks:
        try:
            sink.emit(report)
        except Exception:
            logger.exception("lockwatch: sink %r failed on a %s report", sink, report.kind)
