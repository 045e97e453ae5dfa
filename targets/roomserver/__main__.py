"""Command line: ``python -m targets.roomserver --mode naive --port 0``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from targets import serverflags
from targets.roomserver.connection import DELIVERIES
from targets.roomserver.context import ServerContext
from targets.roomserver.modes import MODES
from targets.roomserver.outputlimit import DEFAULT_MAX_UNSENT
from targets.roomserver.server import RoomServer, listening_port


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = serverflags.OneLineParser(
        prog="python -m targets.roomserver",
        description="Reference room server with monitored room locks (see docs/wire-protocol.md).",
    )
    parser.add_argument("--mode", choices=sorted(MODES), default="naive",
                        help="broadcast strategy: naive (the bug), spawn (one task per send), "
                             "fixed (bounded per-member outboxes) (default: naive)")
    parser.add_argument("--delivery", choices=DELIVERIES, default="ack",
                        help="ack: write each frame, then wait for the member's ack; write: "
                             "websockets' own send() alone, which waits only while the "
                             "socket's buffers are full (default: ack)")
    serverflags.add_common_flags(
        parser, default_port=8765,
        send_timeout_help="how long one delivery, write and ack together, may take")
    parser.add_argument("--outbox-size", type=int, default=256, metavar="N",
                        help="per-member outbox capacity in fixed mode (default: 256)")
    parser.add_argument("--max-unsent", type=int, default=DEFAULT_MAX_UNSENT, metavar="BYTES",
                        help="close a connection (1008) whose unsent output passes this many "
                             f"bytes (default: {DEFAULT_MAX_UNSENT}, 4 MiB)")
    args = serverflags.parse_flags(parser, argv)
    if args.outbox_size < 1:
        parser.error(f"--outbox-size {args.outbox_size} must be at least 1")
    if args.max_unsent < 1:
        parser.error(f"--max-unsent {args.max_unsent} must be at least 1 byte")
    return args


async def run(args: argparse.Namespace) -> None:
    memory = serverflags.configure_lockwatch(args)
    context = ServerContext(
        mode=args.mode, send_timeout=args.send_timeout, outbox_size=args.outbox_size,
        delivery=args.delivery,
    )
    room_server = RoomServer(context, memory, max_unsent=args.max_unsent)
    async with room_server.serve(args.host, args.port) as server:
        port = listening_port(server)
        # Handlers before the announcement: a supervisor may signal as soon as it reads it.
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        print(f"roomserver ({args.mode}) listening on ws://{args.host}:{port}/ws "
              f"({args.delivery} delivery)", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    serverflags.start_logging(args)
    try:
        asyncio.run(run(args))
    except OSError as exc:
        return serverflags.cannot_listen("roomserver", args, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
