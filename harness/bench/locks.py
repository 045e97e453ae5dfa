"""lockwatch overhead: uncontended acquire+release against the standard library's locks.

Each case runs ``n`` cycles of ``async with lock: pass`` (asyncio) or ``with lock:
pass`` (threading) on one task or thread, with a fresh lock per round. The time
of an empty loop of ``n`` iterations is measured in the same round and
subtracted, so the figures are the cost of the lock alone. Rounds interleave
every case (in a rotating order), monitoring on and off; the garbage collector
is off while timing, as in :mod:`timeit`.

Reported per case: the median ns per cycle over the rounds, and the median of
the per-round ratios to the plain lock timed in the same round (a paired ratio,
which cancels most of the drift of a noisy machine). The goal, at most 1.5x the
plain lock, applies to the monitored locks in their default configuration
(monitoring on, no hold threshold); the "off" rows, after
``lockwatch.configure(enabled=False)``, are for information.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lockwatch
from harness.bench.result import BenchResult, Row, best_ratio, median, paired_ratio
from lockwatch import aio, threads

__all__ = ["GOAL_RATIO", "run"]

GOAL_RATIO = 1.5
DETECTOR_THRESHOLD = 0.002
"""The held-across-await threshold of the "(await detector)" rows (the scenarios' default)."""

_perf = time.perf_counter


@dataclass(frozen=True)
class _Case:
    name: str
    flavour: str  # "async" or "sync"
    make: Callable[[], Any]  # a fresh context manager (the lock, or its read/write side)
    baseline: str | None  # name of the plain case it is compared with
    monitored: bool


def _cases() -> list[_Case]:
    return [
        _Case("asyncio.Lock", "async", asyncio.Lock, None, False),
        _Case("aio.Lock", "async", lambda: aio.Lock("bench"), "asyncio.Lock", True),
        _Case("aio.RWLock read", "async", lambda: aio.RWLock("bench").read(), "asyncio.Lock", True),
        _Case("aio.RWLock write", "async", lambda: aio.RWLock("bench").write(), "asyncio.Lock",
              True),
        _Case("threading.Lock", "sync", threading.Lock, None, False),
        _Case("threading.RLock", "sync", threading.RLock, None, False),
        _Case("threads.Lock", "sync", lambda: threads.Lock("bench"), "threading.Lock", True),
        _Case("threads.RLock", "sync", lambda: threads.RLock("bench"), "threading.RLock", True),
        _Case("threads.RWLock read", "sync", lambda: threads.RWLock("bench").read(),
              "threading.Lock", True),
        _Case("threads.RWLock write", "sync", lambda: threads.RWLock("bench").write(),
              "threading.Lock", True),
    ]


async def _time_async(cm: Any, n: int) -> float:
    start = _perf()
    for _ in range(n):
        async with cm:
            pass
    return _perf() - start


async def _time_async_empty(n: int) -> float:
    start = _perf()
    for _ in range(n):
        pass
    return _perf() - start


def _time_sync(cm: Any, n: int) -> float:
    start = _perf()
    for _ in range(n):
        with cm:
            pass
    return _perf() - start


def _time_sync_empty(n: int) -> float:
    start = _perf()
    for _ in range(n):
        pass
    return _perf() - start


def _one_round(cases: list[_Case], n: int, shift: int) -> dict[str, float]:
    """Time every case once (monitored ones on and off); ns per cycle, loop cost removed."""
    order = cases[shift % len(cases):] + cases[:shift % len(cases)]
    figures: dict[str, float] = {}

    async def run_async() -> None:
        empty = await _time_async_empty(n)
        for enabled, detector in ((True, False), (True, True), (False, False)):
            # The held-across-await detector samples from a timer: it must add nothing here.
            lockwatch.configure(enabled=enabled,
                                suspend_threshold=DETECTOR_THRESHOLD if detector else 0)
            for case in order:
                if case.flavour != "async" or (not enabled and not case.monitored):
                    continue
                if detector and not case.monitored:
                    continue
                spent = await _time_async(case.make(), n)
                label = f"{case.name} (await detector)" if detector else _label(case, enabled)
                figures[label] = max(spent - empty, 0.0) / n * 1e9
        lockwatch.configure(suspend_threshold=0)

    asyncio.run(run_async())
    empty = _time_sync_empty(n)
    for enabled in (True, False):
        lockwatch.configure(enabled=enabled)
        for case in order:
            if case.flavour != "sync" or (not enabled and not case.monitored):
                continue
            spent = _time_sync(case.make(), n)
            figures[_label(case, enabled)] = max(spent - empty, 0.0) / n * 1e9
    return figures


def _label(case: _Case, enabled: bool) -> str:
    return case.name if enabled or not case.monitored else f"{case.name} (off)"


def run(tiny: bool = False) -> BenchResult:
    """Measure every case; ``tiny`` runs a few thousand cycles, for tests."""
    n, rounds = (2_000, 3) if tiny else (20_000, 15)
    result = BenchResult(
        "lockwatch",
        "uncontended acquire+release, ns per cycle, vs the plain lock in the same round",
        params={"cycles_per_round": n, "rounds": rounds, "goal": f"<= {GOAL_RATIO}x plain lock",
                "lockwatch": "default options (wait threshold 30 s, no hold threshold)"},
    )
    cases = _cases()
    per_round: list[dict[str, float]] = []
    gc_was_enabled = gc.isenabled()
    try:
        lockwatch.reset()
        lockwatch.configure(sinks=[])
        _one_round(cases, max(n // 10, 100), 0)  # warm-up
        gc.disable()
        for index in range(rounds):
            per_round.append(_one_round(cases, n, index))
    finally:
        if gc_was_enabled:
            gc.enable()
        lockwatch.reset()
    for case in cases:
        labels = [_label(case, True)]
        if case.monitored:
            if case.flavour == "async":
                labels.append(f"{case.name} (await detector)")
            labels.append(_label(case, False))
        for label in labels:
            enabled = not label.endswith("(off)")
            values = [figures[label] for figures in per_round]
            row = Row(label, median(values), "ns/op", rounds=[round(v, 1) for v in values])
            if case.baseline is not None:
                base = [figures[case.baseline] for figures in per_round]
                row.baseline = case.baseline
                row.baseline_value = median(base)
                row.ratio = paired_ratio(values, base)
                best = best_ratio(values, base, higher_is_better=False)
                result.details.setdefault("ratio_of_best_rounds", {})[label] = (
                    None if best is None else round(best, 3))
                if enabled:
                    row.check(f"<= {GOAL_RATIO}x", lambda r: r <= GOAL_RATIO)
            result.rows.append(row)
    missed = [row.case for row in result.rows if row.met is False]
    if missed:
        result.notes.append(
            f"over the {GOAL_RATIO}x goal: {', '.join(missed)}"
        )
    return result
