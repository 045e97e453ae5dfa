"""Command line: ``python -m targets.roomserver --mode naive --port 0``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import sys
from typing import NoReturn

from harness import lockwatch

from .connection import DELIVERIES
from .context import ServerContext
from .modes import MODES
from .outputlimit import DEFAULT_MAX_UNSENT
from .server import RoomServer, listening_port


def seconds_or_off(text: str) -> float:
    """A duration in seconds; 0 turns the check off."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 (off) or more seconds")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets one line (what is wrong, where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m targets.roomserver",
        description="Reference room server with monitored room locks (see docs/protocol.md).",
    )
    parser.add_argument("--mode", choices=sorted(MODES), default="naive",
                        help="broadcast strategy: naive (the bug), spawn (one task per send), "
                             "fixed (bounded per-member outboxes) (default: naive)")
    parser.add_argument("--delivery", choices=DELIVERIES, default="ack",
                        help="ack: each send writes the frame and waits for the member's ack; "
                             "write: each send is websockets' own send(), which waits only "
                             "while the socket's buffers are full, and no ack is awaited "
                             "(default: ack)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port to bind; 0 picks a free one (default: 8765)")
    parser.add_argument("--lock-wait-threshold", type=positive_seconds, default=0.1,
                        metavar="SECONDS",
                        help="report a lock wait longer than this (default: 0.1)")
    parser.add_argument("--lock-hold-threshold", type=positive_seconds, default=None,
                        metavar="SECONDS",
                        help="report a lock hold longer than this (default: off)")
    parser.add_argument("--lock-suspend-threshold", type=seconds_or_off, default=0.0,
                        metavar="SECONDS",
                        help="report a task that holds a room lock while suspended on I/O "
                             "(a drain, an ack, a sleep) longer than this; 0 is off "
                             "(default: 0)")
    parser.add_argument("--lock-report-file", metavar="PATH",
                        help="append lock reports to this JSONL file")
    parser.add_argument("--send-timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                        help="how long one delivery, write and ack together, may take "
                             "(default: 10)")
    parser.add_argument("--outbox-size", type=int, default=256, metavar="N",
                        help="per-member outbox capacity in fixed mode (default: 256)")
    parser.add_argument("--max-unsent", type=int, default=DEFAULT_MAX_UNSENT, metavar="BYTES",
                        help="close a connection (1008) whose unsent output passes this many "
                             f"bytes (default: {DEFAULT_MAX_UNSENT}, 4 MiB)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (default: WARNING)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is out of range; use 0..65535 (0 picks a free port)")
    if args.outbox_size < 1:
        parser.error(f"--outbox-size {args.outbox_size} must be at least 1")
    if args.max_unsent < 1:
        parser.error(f"--max-unsent {args.max_unsent} must be at least 1 byte")
    return args


async def run(args: argparse.Namespace) -> None:
    memory = lockwatch.MemorySink()
    sinks: list[lockwatch.Sink] = [memory, lockwatch.LoggingSink()]
    if args.lock_report_file:
        sinks.append(lockwatch.JsonlSink(args.lock_report_file))
    lockwatch.configure(
        enabled=True,
        wait_threshold=args.lock_wait_threshold,
        hold_threshold=args.lock_hold_threshold,
        suspend_threshold=args.lock_suspend_threshold,
        sinks=sinks,
    )
    context = ServerContext(
        mode=args.mode, send_timeout=args.send_timeout, outbox_size=args.outbox_size,
        delivery=args.delivery,
    )
    room_server = RoomServer(context, memory, max_unsent=args.max_unsent)
    async with room_server.serve(args.host, args.port) as server:
        port = listening_port(server)
        print(f"roomserver ({args.mode}) listening on ws://{args.host}:{port}/ws "
              f"({args.delivery} delivery)", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(run(args))
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        print(
            f"roomserver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "pick another --port, or --port 0 for a free one",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
