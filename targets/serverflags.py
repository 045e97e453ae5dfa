"""The flags every bundled server takes, and lockwatch set up from them.

``--host``, ``--port``, ``--lock-wait-threshold``, ``--lock-hold-threshold``,
``--lock-suspend-threshold``, ``--lock-report-file``, ``--log-level`` and ``--send-timeout``
(how long one member's reply may take; each server says what it waits for) mean the same in
each server under ``targets/``, so the harness starts any of them the same way
(:class:`harness.rig.launched.ReferenceTarget`). The servers also share their start: one-line
flag errors, the port's range, logging, and what a port that cannot be had says.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

import lockwatch

__all__ = ["OneLineParser", "add_common_flags", "cannot_listen", "configure_lockwatch",
           "parse_flags", "positive_seconds", "seconds_or_off", "start_logging"]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets one line (what is wrong, where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def add_common_flags(parser: argparse.ArgumentParser, default_port: int,
                     send_timeout_help: str) -> None:
    """Add the flags every bundled server shares to its command line (``send_timeout_help``:
    what ``--send-timeout`` bounds in this server, followed by its default)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port,
                        help=f"port to bind; 0 picks a free one (default: {default_port})")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (default: WARNING)")
    parser.add_argument("--lock-wait-threshold", type=positive_seconds, default=0.1,
                        metavar="SECONDS",
                        help="report a lock wait longer than this (default: 0.1)")
    parser.add_argument("--lock-hold-threshold", type=positive_seconds, default=None,
                        metavar="SECONDS",
                        help="report a lock hold longer than this (default: off)")
    parser.add_argument("--lock-suspend-threshold", type=seconds_or_off, default=0.0,
                        metavar="SECONDS",
                        help="report a task that holds a room lock while suspended on "
                             "network I/O or a reply (a drain, an ack), however short, or on "
                             "a sleep longer than this; 0 is off (default: 0)")
    parser.add_argument("--lock-report-file", metavar="PATH",
                        help="append lock reports to this JSONL file")
    parser.add_argument("--send-timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                        help=f"{send_timeout_help} (default: 10)")


def configure_lockwatch(args: argparse.Namespace) -> lockwatch.MemorySink:
    """Turn lockwatch on as the flags say; return the sink that ``/debug/locks`` serves."""
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
    return memory


def parse_flags(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (None: the process's own), with ``--port`` checked to be 0..65535."""
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is out of range; use 0..65535 (0 picks a free port)")
    return args


def start_logging(args: argparse.Namespace) -> None:
    """Log at ``--log-level`` to stderr, each line stamped and named."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cannot_listen(server: str, args: argparse.Namespace, exc: OSError) -> int:
    """Say on stderr that ``server`` cannot have its address, and return exit status 2.

    Raises:
        OSError: ``exc`` itself when it is not about the address (in use, not here, denied).
    """
    if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
        raise exc
    print(f"{server}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
          "pick another --port, or --port 0 for a free one", file=sys.stderr)
    return 2
