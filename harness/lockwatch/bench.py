"""Measure the uncontended cost of lockwatch locks: ``python -m harness.lockwatch.bench``.

Times ``async with`` / ``with`` on one task or thread, lockwatch enabled and
disabled, next to :class:`asyncio.Lock` and :class:`threading.Lock`. Each figure
is the best of several rounds, in nanoseconds per acquire and release.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from . import aio, configure, reset, threads

__all__ = ["measure", "main"]

AsyncFactory = Callable[[], Callable[[], AbstractAsyncContextManager[Any]]]
SyncFactory = Callable[[], Callable[[], AbstractContextManager[Any]]]


def _same(cm: Any) -> Callable[[], Any]:
    return lambda: cm


def _async_cases(tag: str) -> dict[str, AsyncFactory]:
    return {
        "asyncio.Lock": lambda: _same(asyncio.Lock()),
        f"aio.Lock {tag}": lambda: _same(aio.Lock("bench")),
        f"aio.RWLock.read() {tag}": lambda: aio.RWLock("bench").read,
        f"aio.RWLock.write() {tag}": lambda: aio.RWLock("bench").write,
    }


def _sync_cases(tag: str) -> dict[str, SyncFactory]:
    return {
        "threading.Lock": lambda: _same(threading.Lock()),
        "threading.RLock": lambda: _same(threading.RLock()),
        f"threads.Lock {tag}": lambda: _same(threads.Lock("bench")),
        f"threads.RLock {tag}": lambda: _same(threads.RLock("bench")),
        f"threads.RWLock.read() {tag}": lambda: threads.RWLock("bench").read,
        f"threads.RWLock.write() {tag}": lambda: threads.RWLock("bench").write,
    }


async def _time_async(get: Callable[[], AbstractAsyncContextManager[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        async with get():
            pass
    return (time.perf_counter() - start) / n * 1e9


def _time_sync(get: Callable[[], AbstractContextManager[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        with get():
            pass
    return (time.perf_counter() - start) / n * 1e9


def measure(n: int = 100_000, rounds: int = 10) -> dict[str, float]:
    """Return the best nanoseconds per uncontended cycle for each case."""
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = min(best.get(name, value), value)

    async def run_async() -> None:
        for _ in range(rounds):
            for enabled in (True, False):
                configure(enabled=enabled)
                for name, factory in _async_cases("on" if enabled else "off").items():
                    keep(name, await _time_async(factory(), n))

    try:
        asyncio.run(run_async())
        for _ in range(rounds):
            for enabled in (True, False):
                configure(enabled=enabled)
                for name, sync_factory in _sync_cases("on" if enabled else "off").items():
                    keep(name, _time_sync(sync_factory(), n))
    finally:
        reset()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="cycles per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds; the best one counts")
    args = parser.parse_args()
    results = measure(args.n, args.rounds)
    for name, value in results.items():
        base = results["asyncio.Lock" if name.startswith(("aio", "asyncio")) else "threading.Lock"]
        print(f"{name:28} {value:7.0f} ns  {value / base:5.2f}x")


if __name__ == "__main__":
    main()
