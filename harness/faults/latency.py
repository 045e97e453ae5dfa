"""Fault kind ``latency``: delay every chunk of data by ``latency`` +/- ``jitter``.

Scenario table::

    [[faults]]
    kind = "latency"
    latency = "500ms"   # required, whole milliseconds, >= 0 (0: a proxy hop, no delay)
    jitter = "50ms"     # optional, default 0, must not exceed latency
    stream = "downstream"
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
    read_whole_milliseconds,
)

NAME = "latency"


@dataclass(frozen=True)
class LatencyFault(OneToxic):
    """Toxiproxy ``latency`` toxic: each chunk waits ``latency_ms`` +/- ``jitter_ms``."""

    NAME: ClassVar[str] = NAME
    ATTRIBUTES: ClassVar[Mapping[str, str]] = {"latency": "latency_ms", "jitter": "jitter_ms"}
    latency_ms: int
    jitter_ms: int = 0
    stream: str = DOWNSTREAM


def parse(table: Mapping[str, Any]) -> LatencyFault:
    """Validate a ``kind = "latency"`` table.

    Raises:
        ValueError: latency missing or not >= 0 whole ms, jitter negative or above latency,
            or a bad stream.
    """
    latency_ms = read_whole_milliseconds(table, "latency", default=None)
    if latency_ms < 0:
        raise ValueError('latency must be >= 0; use e.g. latency = "500ms"')
    jitter_ms = read_whole_milliseconds(table, "jitter", default="0ms")
    return build({"latency": latency_ms, "jitter": jitter_ms}, read_stream(table))


def build(values: Mapping[str, int], stream: str) -> LatencyFault:
    """The fault from whole ms ``latency`` and ``jitter``.

    Raises:
        ValueError: jitter above latency.
    """
    latency_ms, jitter_ms = values["latency"], values["jitter"]
    if jitter_ms > latency_ms:
        raise ValueError(
            f"jitter ({jitter_ms} ms) must not exceed latency ({latency_ms} ms); "
            "lower jitter or raise latency"
        )
    return LatencyFault(latency_ms=latency_ms, jitter_ms=jitter_ms, stream=stream)


def describe(attributes: Mapping[str, Any]) -> str:
    """``latency 500 ms ± 50 ms`` (no ``±`` part without jitter)."""
    text = f"latency {attributes.get('latency', 0)} ms"
    if attributes.get("jitter"):
        text += f" ± {attributes['jitter']} ms"
    return text


KIND = FaultKind(
    name=NAME,
    keys=("latency", "jitter"),
    parse=parse,
    summary="delay data by `latency` +/- `jitter` (Toxiproxy latency toxic)",
    toxic_type="latency",
    params=(
        Param("latency", "latency", "ms", default=500, minimum=1, maximum=60_000),
        Param("jitter", "jitter", "ms", default=50, minimum=0, maximum=60_000),
    ),
    build=build,
    describe=describe,
)
