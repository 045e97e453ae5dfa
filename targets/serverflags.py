"""The flags every bundled server takes, and lockwatch set up from them.

``--host``, ``--port``, ``--lock-wait-threshold``, ``--lock-hold-threshold``,
``--lock-suspend-threshold``, ``--lock-report-file`` and ``--log-level`` mean the same in
each server under ``targets/``, so the harness starts any of them the same way
(:class:`harness.rig.launched.ReferenceTarget`).
"""

from __future__ import annotations

import argparse

import lockwatch

__all__ = ["add_common_flags", "configure_lockwatch", "positive_seconds", "seconds_or_off"]


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


def add_common_flags(parser: argparse.ArgumentParser, default_port: int) -> None:
    """Add the flags every bundled server shares to its command line."""
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
