"""The interface every fault kind implements, and helpers they share.

A fault kind is one module that exposes a :class:`FaultKind`: its ``name`` (the ``kind`` value in
a ``[[faults]]`` table), the extra ``keys`` it accepts, and a ``parse`` function turning the
table into a :class:`Fault`. A fault knows how to describe itself as a Toxiproxy toxic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.durations import parse_duration

DOWNSTREAM = "downstream"
"""Toxiproxy stream from the server to the member: slows what the server sends that member."""

UPSTREAM = "upstream"
"""Toxiproxy stream from the member to the server."""

STREAMS: tuple[str, ...] = (DOWNSTREAM, UPSTREAM)

COMMON_KEYS: tuple[str, ...] = ("kind", "stream")
"""Keys every ``[[faults]]`` table may have, whatever its kind."""


@dataclass(frozen=True)
class ToxicSpec:
    """A Toxiproxy toxic, ready to be created on a proxy.

    Attributes:
        type: Toxiproxy toxic type (``"latency"``, ``"bandwidth"``, ...).
        stream: ``"downstream"`` (server -> member) or ``"upstream"`` (member -> server).
        attributes: The toxic's attributes exactly as Toxiproxy's API expects them.
    """

    type: str
    stream: str = DOWNSTREAM
    attributes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The toxic as a JSON-ready dict (``type``, ``stream``, ``attributes``)."""
        return {"type": self.type, "stream": self.stream, "attributes": dict(self.attributes)}


class Fault(Protocol):
    """A parsed, validated fault from one ``[[faults]]`` table."""

    @property
    def kind(self) -> str:
        """The fault kind's name, e.g. ``"latency"``."""
        ...

    def toxic(self) -> ToxicSpec:
        """The Toxiproxy toxic that injects this fault."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The fault's settings as a JSON-ready dict, including ``kind`` and ``stream``."""
        ...


@dataclass(frozen=True)
class FaultKind:
    """One registered fault kind.

    Attributes:
        name: Value of ``kind`` in the scenario that selects this fault kind.
        keys: Keys the kind accepts besides :data:`COMMON_KEYS`.
        parse: Validates a whole ``[[faults]]`` table (unknown keys are already rejected) and
            returns the fault; raises ValueError with a one-line message naming the bad key,
            what is wrong and how to fix it.
        summary: One line describing the fault, for documentation.
    """

    name: str
    keys: tuple[str, ...]
    parse: Callable[[Mapping[str, Any]], Fault]
    summary: str


def read_stream(table: Mapping[str, Any]) -> str:
    """The ``stream`` of a fault table, ``"downstream"`` when absent.

    Raises:
        ValueError: ``stream`` is not ``"downstream"`` or ``"upstream"``.
    """
    stream = table.get("stream", DOWNSTREAM)
    if stream not in STREAMS:
        raise ValueError(
            f'stream must be "downstream" (server -> member) or "upstream" '
            f"(member -> server), got {stream!r}"
        )
    return str(stream)


def read_whole_milliseconds(table: Mapping[str, Any], key: str, default: str | None) -> int:
    """The duration under ``key`` as a whole number of milliseconds (Toxiproxy's unit).

    Args:
        table: The ``[[faults]]`` table.
        key: Key to read.
        default: Duration text used when ``key`` is absent; None makes the key required.

    Raises:
        ValueError: the key is missing, is not a duration, or is not whole milliseconds.
    """
    if key not in table:
        if default is None:
            raise ValueError(f'missing required key {key!r}; add e.g. {key} = "500ms"')
        raw: Any = default
    else:
        raw = table[key]
    try:
        seconds = parse_duration(raw)
    except ValueError as problem:
        raise ValueError(f"{key}: {problem}") from None
    milliseconds = seconds * 1000
    if abs(milliseconds - round(milliseconds)) > 1e-6:
        raise ValueError(
            f"{key} must be a whole number of milliseconds (Toxiproxy works in ms), got {raw!r}"
        )
    return round(milliseconds)
