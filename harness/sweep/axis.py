"""The swept axis: a latency range, its grid of points, and the scenario at one point.

Only injected latency can be swept today. The other axis the issue names, the body size of a
stall, arrives with the stall fault (there is no stall fault in the code base yet).

Values are whole milliseconds, as Toxiproxy's ``latency`` toxic takes them. The grid of a
range ``LO..HI`` with resolution ``R`` is ``LO, LO + R, LO + 2R, ...`` up to ``HI`` (the last
point is ``HI`` itself, even off the grid), so the search only ever runs round values.
"""

from __future__ import annotations

import math
from dataclasses import replace

from harness.durations import format_duration, parse_duration
from harness.faults.latency import LatencyFault
from harness.scenario import Scenario

RANGE_SEPARATOR = ".."


class AxisError(ValueError):
    """Bad sweep input; the message is one line saying what is wrong and what to write."""


def _whole_ms(text: str, flag: str) -> int:
    """``text`` (a duration) in whole milliseconds; raises AxisError otherwise."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise AxisError(f"{flag}: {exc}") from None
    milliseconds = seconds * 1000
    if not math.isclose(milliseconds, round(milliseconds), abs_tol=1e-6):
        raise AxisError(f"{flag}: {text!r} is not a whole number of milliseconds "
                        "(Toxiproxy's latency toxic takes whole ms)")
    return round(milliseconds)


def parse_latency_range(text: str) -> tuple[int, int]:
    """``"LO..HI"`` (two durations, e.g. ``"0ms..1s"``) as ``(lo_ms, hi_ms)``, LO < HI.

    Raises:
        AxisError: not two durations joined by ``..``, not whole ms, or LO >= HI.
    """
    low_text, separator, high_text = text.partition(RANGE_SEPARATOR)
    if not separator or not low_text.strip() or not high_text.strip():
        raise AxisError(f"--latency {text!r} must be LO..HI, two durations, e.g. 0ms..1s")
    low = _whole_ms(low_text.strip(), "--latency LO")
    high = _whole_ms(high_text.strip(), "--latency HI")
    if low >= high:
        raise AxisError(f"--latency {text!r}: LO ({format_ms(low)}) must be below HI "
                        f"({format_ms(high)}); e.g. 0ms..1s")
    return low, high


def parse_resolution(text: str) -> int:
    """``--resolution`` (a duration, at least 1 ms) in whole milliseconds.

    Raises:
        AxisError: not a duration, not whole ms, or below 1 ms.
    """
    resolution = _whole_ms(text, "--resolution")
    if resolution < 1:
        raise AxisError(f"--resolution {text!r} must be at least 1ms")
    return resolution


def format_ms(milliseconds: int) -> str:
    """A latency for people and folder names: ``"0s"``, ``"250ms"``, ``"1.5s"``."""
    return format_duration(milliseconds / 1000)


def grid_size(low_ms: int, high_ms: int, resolution_ms: int) -> int:
    """The index of ``HI`` on the grid: the grid has points 0 .. this (inclusive)."""
    return math.ceil((high_ms - low_ms) / resolution_ms)


def grid_value(index: int, low_ms: int, high_ms: int, resolution_ms: int) -> int:
    """The latency at grid ``index``: ``LO + index * R``, never above ``HI``."""
    return min(low_ms + index * resolution_ms, high_ms)


def latency_faults(scenario: Scenario) -> list[LatencyFault]:
    """The scenario's latency faults (the ones a sweep varies)."""
    return [fault for fault in scenario.faults if isinstance(fault, LatencyFault)]


def check_sweepable(scenario: Scenario) -> None:
    """Raise AxisError when the scenario has no latency fault to vary."""
    if not latency_faults(scenario):
        raise AxisError(f"{scenario.source_path}: the scenario has no latency fault; a latency "
                        'sweep varies [[faults]] with kind = "latency", so add one')


def scenario_at_latency(scenario: Scenario, latency_ms: int) -> Scenario:
    """A copy of ``scenario`` whose every latency fault is ``latency_ms`` with no jitter.

    Other faults stay as they are. Jitter is set to 0 so that each point measures exactly
    one latency. ``0`` is allowed: a toxic that adds no delay (the point without the fault).
    """
    faults = tuple(
        replace(fault, latency_ms=latency_ms, jitter_ms=0)
        if isinstance(fault, LatencyFault) else fault
        for fault in scenario.faults
    )
    return replace(scenario, faults=faults)
