"""Command line: ``python -m targets.socketio_room --mode naive --port 0``.

Prints ``socketio_room (MODE) listening on ws://HOST:PORT/socket.io/?EIO=4&transport=websocket``
once the port accepts connections; SIGINT or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

import uvicorn

from targets import serverflags
from targets.socketio_room.modes import MODES
from targets.socketio_room.server import RoomApp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = serverflags.OneLineParser(
        prog="python -m targets.socketio_room",
        description="Socket.IO room server with a monitored room lock (the Socket.IO "
                    "reference target; events in targets/socketio_room/server.py).",
    )
    parser.add_argument("--mode", choices=sorted(MODES), default="naive",
                        help="broadcast strategy: naive (awaits each member's ack under the "
                             "room lock: the bug), fixed (emits after letting go of the lock) "
                             "(default: naive)")
    serverflags.add_common_flags(
        parser, default_port=8766,
        send_timeout_help="naive: how long to wait for one member's acknowledgement")
    return serverflags.parse_flags(parser, argv)


async def serve(args: argparse.Namespace, listener: socket.socket) -> None:
    """Configure lockwatch, announce the URL, and serve until SIGINT or SIGTERM."""
    app = RoomApp(args.mode, args.send_timeout, serverflags.configure_lockwatch(args))
    config = uvicorn.Config(app.asgi, lifespan="off", log_level=args.log_level.lower(),
                            access_log=False)
    host, port = listener.getsockname()[:2]
    server = uvicorn.Server(config)
    # A supervisor may signal as soon as it reads the announcement, before uvicorn has put its
    # own handlers in place: until then, these ask the server to exit cleanly.
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, server.handle_exit, signum, None)
    print(f"socketio_room ({args.mode}) listening on "
          f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket", flush=True)
    await server.serve(sockets=[listener])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    serverflags.start_logging(args)
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        return serverflags.cannot_listen("socketio_room", args, exc)
    with listener:
        asyncio.run(serve(args, listener))
    return 0


if __name__ == "__main__":
    sys.exit(main())
