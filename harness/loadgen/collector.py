"""Where figures from every Locust process meet: the master, or the local runner.

Each Locust process ships its figures with ``runner.send_message(TYPE, data)``. Only the
process that collects (the master in distributed mode, or the local runner, whose
``send_message`` calls the handler directly) registers the handler and, where the figures
go to a file, opens it. Workers only send.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

import gevent

__all__ = ["JsonLinesShipper", "collects", "json_line", "json_lines", "register_collector"]

#: One encoder for every line written: ``json.dumps`` checks its arguments and the encoder
#: its objects for cycles on every call, which the flat lines here cannot have (a quarter
#: of the cost of writing a sample line).
_encode = json.JSONEncoder(check_circular=False).encode


def json_lines(items: list[Any]) -> str:
    """``items`` as JSON lines, each ending in a newline ("" for none)."""
    return "".join([_encode(item) + "\n" for item in items])


def json_line(item: Any) -> str:
    """One item as a JSON line, ending in a newline."""
    return _encode(item) + "\n"


def collects(runner: Any) -> bool:
    """Whether ``runner`` is the process that collects (not a worker)."""
    from locust.runners import WorkerRunner

    return not isinstance(runner, WorkerRunner)


def register_collector(
    runner: Any, message_type: str, handler: Callable[..., None], path: str = ""
) -> IO[str] | None:
    """On the collecting process: register ``handler`` and open ``path`` (if any) to append.

    Returns the open file (line-buffered, so a crash loses at most a partial line), or None
    on a worker or without a path.
    """
    if not collects(runner):
        return None
    runner.register_message(message_type, handler)
    return open(path, "a", buffering=1) if path else None


class JsonLinesShipper:
    """Queue JSON-ready lines in each Locust process; every ``interval`` seconds ship them to
    the collecting process, which appends them to ``path`` (nothing is written without one).

    Subclasses queue lines with :meth:`queue` (or override :meth:`pending_lines`) and may add
    listeners in :meth:`attach`.
    """

    def __init__(self, environment: Any, path: str, message_type: str,
                 interval: float = 0.5) -> None:
        self.environment = environment
        self.path = path
        self.message_type = message_type
        self.interval = interval
        self._batch: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        self._flusher: gevent.Greenlet | None = None

    def attach(self) -> bool:
        """Hook into the runner once it exists (call from ``events.init``); False without one."""
        runner = self.environment.runner
        if runner is None:
            return False
        if self.path:
            self._file = register_collector(runner, self.message_type, self._write_batch,
                                            self.path)
        self.environment.events.quitting.add_listener(lambda **_: self.close())
        self._flusher = gevent.spawn(self._flush_forever)
        return True

    def queue(self, line: dict[str, Any]) -> None:
        self._batch.append(line)

    def pending_lines(self) -> list[dict[str, Any]]:
        """The lines to ship now (and forget)."""
        batch, self._batch = self._batch, []
        return batch

    def _flush_forever(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.flush()

    def flush(self) -> None:
        batch = self.pending_lines()
        runner = self.environment.runner
        if batch and runner is not None:
            runner.send_message(self.message_type, batch)

    def _write_batch(self, msg: Any, **_: Any) -> None:
        if self._file is None or not isinstance(msg.data, list):
            return
        self._file.write(json_lines(msg.data))

    def close(self) -> None:
        self.flush()
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self._file is not None:
            self._file.close()
            self._file = None
