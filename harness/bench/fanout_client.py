"""The fan-out load: ``python -m harness.bench.fanout_client --url WS_URL [--no-ack]``.

One asyncio process opens ``--members`` connections to one room. Member 0
broadcasts as fast as flow control allows; every other member counts the
``message`` frames it receives and, unless ``--no-ack``, answers each with an
``ack`` at once, as docs/wire-protocol.md requires. Flow control keeps the slowest
receiver at most ``--window`` broadcasts behind the sender, well under the
reference server's outbox (256), so nobody is dropped as a slow consumer.
Frames are built and read by :data:`harness.protocols.ROOMCHAOS`.

After ``--warmup`` seconds it counts delivered messages for ``--duration``
seconds, then prints one JSON object on stdout: ``delivered_per_s``,
``broadcasts_per_s``, ``client_cpu`` (share of one core this process used in
the window), ``server_cpu`` (same, for ``--server-pid``), and the problems seen
(``errors``: error codes and unreadable frames; ``closed``; ``stalled``). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.bench.cli import child_parser
from harness.protocols import ROOMCHAOS, Delivered, ErrorReply, Joined, Unparseable

__all__ = ["main", "measure"]

ROOM = "bench-fanout"
STALL_S = 3.0  # no progress for this long ends the run (a member was dropped)


class _Members:
    """Receive counters and the event the sender waits on."""

    def __init__(self, count: int) -> None:
        self.received = [0] * count
        self.errors: list[str] = []
        self.closed: list[int | None] = []
        self.progress = asyncio.Event()


async def _join(ws: ClientConnection, name: str) -> None:
    await ws.send(ROOMCHAOS.join_frame(ROOM, name))
    while True:
        event = ROOMCHAOS.classify(await ws.recv())
        if isinstance(event, Joined):
            return
        if isinstance(event, ErrorReply | Unparseable):
            raise RuntimeError(f"join {name}: {event}")


async def _receive(ws: ClientConnection, index: int, state: _Members, ack: bool) -> None:
    received = state.received
    progress = state.progress
    classify, ack_frame = ROOMCHAOS.classify, ROOMCHAOS.ack_frame
    try:
        async for raw in ws:
            event = classify(raw)
            if type(event) is Delivered:
                received[index] += 1
                frame = ack_frame(event) if ack else None
                if frame is not None:
                    await ws.send(frame)
                progress.set()
            elif type(event) is ErrorReply:
                state.errors.append(str(event.code))
            elif type(event) is Unparseable:
                state.errors.append(f"unparseable: {event.reason}")
    except ConnectionClosed:
        pass
    finally:
        if ws.close_code not in (None, 1000):
            state.closed.append(ws.close_code)


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


async def measure(url: str, members: int, warmup: float, duration: float, window: int,
                  ack: bool, server_pid: int | None = None) -> dict[str, Any]:
    """Run the fan-out load against ``url`` and return the figures (see the module doc)."""
    state = _Members(members)
    sockets = await asyncio.wait_for(asyncio.gather(*(
        connect(url, compression=None, proxy=None, max_size=None, open_timeout=10)
        for _ in range(members))), 30)
    readers: list[asyncio.Task[None]] = []
    stalled = False
    try:
        await asyncio.wait_for(asyncio.gather(*(
            _join(ws, f"member-{index}") for index, ws in enumerate(sockets))), 30)
        readers = [asyncio.create_task(_receive(ws, index, state, ack))
                   for index, ws in enumerate(sockets)]
        sender = sockets[0]
        others = range(1, members)
        received = state.received
        server = psutil.Process(server_pid) if server_pid else None
        start = time.monotonic()
        window_start = start + warmup
        end = window_start + duration
        sent = 0
        broadcast_frame = ROOMCHAOS.broadcast_frame
        mark: tuple[float, int, int, float, float] | None = None
        while (now := time.monotonic()) < end:
            if mark is None and now >= window_start:
                mark = (now, sum(received), sent, time.process_time(), _cpu(server))
            if sent - min(received[i] for i in others) < window:
                sent += 1
                await sender.send(broadcast_frame(ROOM, sent, "x" * 16, time.time()))
                if sent % 8 == 0:
                    await asyncio.sleep(0)  # let the readers run
                continue
            state.progress.clear()
            try:
                await asyncio.wait_for(state.progress.wait(), STALL_S)
            except TimeoutError:
                stalled = True
                break
        now = time.monotonic()
        if mark is None:
            mark = (start, 0, 0, 0.0, 0.0)
        elapsed = max(now - mark[0], 1e-9)
        delivered = sum(received) - mark[1]
        return {
            "members": members,
            "ack": ack,
            "window": window,
            "seconds": round(elapsed, 3),
            "delivered": delivered,
            "delivered_per_s": delivered / elapsed,
            "broadcasts_per_s": (sent - mark[2]) / elapsed,
            "client_cpu": round((time.process_time() - mark[3]) / elapsed, 3),
            "server_cpu": round((_cpu(server) - mark[4]) / elapsed, 3) if server else None,
            "errors": state.errors[:10],
            "closed": state.closed[:10],
            "stalled": stalled,
        }
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = child_parser("harness.bench.fanout_client", __doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--no-ack", dest="ack", action="store_false")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args(argv)
    if args.members < 2:
        parser.error("--members must be at least 2 (one sender, one receiver)")
    figures = asyncio.run(measure(args.url, args.members, args.warmup, args.duration,
                                  args.window, args.ack, args.server_pid))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
