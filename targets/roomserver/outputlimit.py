"""A bound on each connection's unsent output, whatever fills it.

A client that does not read makes the server's writes pile up in user space:
pongs to its pings (websockets answers each ping as it is read, without
waiting), replies, and messages from modes that do not wait for each write.
One watcher checks every connection's transport write buffer a few times a
second and disconnects a connection over the limit with close code 1008.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from targets.roomserver.connection import Connection
from targets.roomserver.context import ServerContext

__all__ = ["CHECK_INTERVAL", "DEFAULT_MAX_UNSENT", "watch_unsent_output"]

#: Default limit on a connection's unsent output, in bytes (``--max-unsent``).
DEFAULT_MAX_UNSENT = 4 * 1024 * 1024

#: Seconds between two checks. A ping flood on loopback adds about 20 MB/s,
#: so a connection overshoots the limit by about 1 MB at most.
CHECK_INTERVAL = 0.05


async def watch_unsent_output(
    connections: Iterable[Connection], limit: int, ctx: ServerContext
) -> None:
    """Disconnect each connection whose unsent output passes ``limit`` bytes; runs until cancelled.

    ``connections`` is read anew at each check (pass the live set). Each
    disconnect is counted once in ``ctx.metrics.output_limit_disconnects``.
    """
    while True:
        await asyncio.sleep(CHECK_INTERVAL)
        for connection in list(connections):
            if connection.over_limit or connection.unsent_bytes() <= limit:
                continue
            connection.over_limit = True
            ctx.metrics.output_limit_disconnects += 1
            ctx.spawn(connection.close_over_limit(limit),
                      name=f"close over limit {connection.label}")
