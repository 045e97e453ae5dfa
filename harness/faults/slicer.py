"""Fault kind ``slicer``: cut data into small pieces, optionally waiting between them.

Scenario table::

    [[faults]]
    kind = "slicer"
    average_size = 64       # required, bytes per piece, >= 1
    size_variation = 16     # optional, default 0, bytes, smaller than average_size
    delay = "10ms"          # optional, default 0, between pieces, whole microseconds
    stream = "downstream"

Toxiproxy's ``slicer`` toxic takes ``average_size`` and ``size_variation`` in bytes and
``delay`` in microseconds. Its chunking splits a chunk in two around the middle +/-
``size_variation``; a variation not below ``average_size`` (or an average of 0) can make it
split at the edge forever, so both are checked here. With a delay it slows what the server
sends and can make the server's socket send block (see the field notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import (
    DOWNSTREAM,
    FaultKind,
    OneToxic,
    Param,
    read_stream,
    read_whole_duration,
)

NAME = "slicer"
#: Largest piece size accepted, in bytes.
MAX_SIZE = 1 << 20
#: Longest delay between pieces accepted, in microseconds (10 s).
MAX_DELAY_US = 10_000_000


@dataclass(frozen=True)
class SlicerFault(OneToxic):
    """Toxiproxy ``slicer`` toxic: pieces of ``average_size`` +/- ``size_variation`` bytes,
    ``delay_us`` microseconds apart."""

    NAME: ClassVar[str] = NAME
    #: ``average_size`` and ``size_variation`` in bytes, ``delay`` in µs.
    ATTRIBUTES: ClassVar[Mapping[str, str]] = {
        "average_size": "average_size", "size_variation": "size_variation", "delay": "delay_us"}
    average_size: int
    size_variation: int = 0
    delay_us: int = 0
    stream: str = DOWNSTREAM


def _read_bytes(table: Mapping[str, Any], key: str, default: int | None) -> int:
    value = table.get(key, default)
    if value is None:
        raise ValueError(f"missing required key {key!r}; add e.g. {key} = 64 (bytes)")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number of bytes like 64, got {value!r}")
    return value


def parse(table: Mapping[str, Any]) -> SlicerFault:
    """Validate a ``kind = "slicer"`` table.

    Raises:
        ValueError: average_size missing or not 1..MAX_SIZE, size_variation not below it,
            delay not whole microseconds or above 10 s, or a bad stream.
    """
    values = {
        "average_size": _read_bytes(table, "average_size", None),
        "size_variation": _read_bytes(table, "size_variation", 0),
        "delay": read_whole_duration(table, "delay", "0us", unit="us"),
    }
    return build(values, read_stream(table))


def build(values: Mapping[str, int], stream: str) -> SlicerFault:
    """The fault from ``average_size``, ``size_variation`` (bytes) and ``delay`` (µs).

    Raises:
        ValueError: sizes out of bounds, variation not below the average, delay above 10 s.
    """
    average, variation, delay = values["average_size"], values["size_variation"], values["delay"]
    if not 1 <= average <= MAX_SIZE:
        raise ValueError(f"average_size must be from 1 to {MAX_SIZE} bytes, got {average}")
    if not 0 <= variation < average:
        raise ValueError(f"size_variation ({variation} bytes) must be >= 0 and below "
                         f"average_size ({average} bytes); lower it")
    if not 0 <= delay <= MAX_DELAY_US:
        raise ValueError(f"delay must be from 0 to 10s, got {delay} µs")
    return SlicerFault(average_size=average, size_variation=variation, delay_us=delay,
                       stream=stream)


KIND = FaultKind(
    name=NAME,
    keys=("average_size", "size_variation", "delay"),
    parse=parse,
    summary="cut data into `average_size` +/- `size_variation` byte pieces, `delay` apart "
            "(Toxiproxy slicer toxic)",
    toxic_type="slicer",
    params=(
        Param("average_size", "average size", "bytes", default=64, minimum=1, maximum=MAX_SIZE),
        Param("size_variation", "± variation", "bytes", default=0, minimum=0,
              maximum=MAX_SIZE - 1),
        Param("delay", "delay", "µs", default=10_000, minimum=0, maximum=MAX_DELAY_US),
    ),
    build=build,
)
