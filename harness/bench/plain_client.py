"""The load generator's ceiling: ``python -m harness.bench.plain_client --url WS_URL``.

``--connections`` plain websocket-client loops in one process, under gevent
like Locust's users, against the same server with the same frames as
``BenchMember``: send ``broadcast``, receive the ``message`` and answer its
``ack``, receive ``broadcasted``, repeat. No Locust, no events, no receive
greenlet, no reply queue: the least work a Python client can do per message
(frames built and read by :data:`harness.protocols.ROOMCHAOS`, as Locust's are).
It runs for ``--seconds`` and exits; the benchmark counts on the server side.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402

from harness.bench.cli import child_parser  # noqa: E402
from harness.protocols import ROOMCHAOS, Delivered  # noqa: E402

__all__ = ["main"]


def _member(url: str, index: int, stop_at: float) -> None:
    ws = websocket.create_connection(url, timeout=15)
    room, name = f"room-{index}", f"plain-{index}"
    protocol = ROOMCHAOS
    try:
        ws.send(protocol.join_frame(room, name))
        ws.recv()
        sequence = 0
        while time.monotonic() < stop_at:
            sequence += 1
            ws.send(protocol.broadcast_frame(room, f"{name}-{sequence}", "hello", time.time()))
            event = protocol.classify(ws.recv())
            ack = protocol.ack_frame(event) if type(event) is Delivered else None
            if ack is not None:  # the echo server awaits it before it confirms
                ws.send(ack)
                protocol.classify(ws.recv())
    finally:
        ws.close(timeout=1)


def main(argv: list[str] | None = None) -> int:
    parser = child_parser("harness.bench.plain_client", __doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    stop_at = time.monotonic() + args.seconds
    members = [gevent.spawn(_member, args.url, index, stop_at) for index in range(args.connections)]
    gevent.joinall(members, timeout=args.seconds + 15)
    failed = [member.exception for member in members if member.exception is not None]
    for problem in failed[:3]:
        print(f"plain_client: {type(problem).__name__}: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
