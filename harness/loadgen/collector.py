"""Where figures from every Locust process meet: the master, or the local runner.

Each Locust process ships its figures with ``runner.send_message(TYPE, data)``. Only the
process that collects (the master in distributed mode, or the local runner, whose
``send_message`` calls the handler directly) registers the handler and, where the figures
go to a file, opens it. Workers only send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

__all__ = ["collects", "register_collector"]


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
