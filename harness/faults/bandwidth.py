"""Fault kind ``bandwidth``: cap throughput at ``rate`` kilobytes per second.

Scenario table::

    [[faults]]
    kind = "bandwidth"
    rate = "64KB/s"     # required, whole KB/s, > 0
    stream = "downstream"

Toxiproxy treats a rate <= 0 as "unlimited", which would silently inject no fault, so such
rates are rejected here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import DOWNSTREAM, FaultKind, OneToxic, Param, read_stream

NAME = "bandwidth"

_RATE_PATTERN = re.compile(r"^\s*(?P<number>[-+]?\d+)\s*[kK]B/s\s*$")


@dataclass(frozen=True)
class BandwidthFault(OneToxic):
    """Toxiproxy ``bandwidth`` toxic: at most ``rate_kb_per_s`` kilobytes per second."""

    NAME: ClassVar[str] = NAME
    ATTRIBUTES: ClassVar[Mapping[str, str]] = {"rate": "rate_kb_per_s"}
    rate_kb_per_s: int
    stream: str = DOWNSTREAM


def parse(table: Mapping[str, Any]) -> BandwidthFault:
    """Validate a ``kind = "bandwidth"`` table.

    Raises:
        ValueError: rate missing, not of the form ``"<whole number>KB/s"``, or not > 0; or a bad
            stream.
    """
    if "rate" not in table:
        raise ValueError("missing required key 'rate'; add e.g. rate = \"64KB/s\"")
    raw_rate = table["rate"]
    match = _RATE_PATTERN.match(raw_rate) if isinstance(raw_rate, str) else None
    if match is None:
        raise ValueError(
            f'rate must be a string of whole kilobytes per second like "64KB/s", got {raw_rate!r}'
        )
    return build({"rate": int(match["number"])}, read_stream(table))


def build(values: Mapping[str, int], stream: str) -> BandwidthFault:
    """The fault from a whole ``rate`` in KB/s.

    Raises:
        ValueError: rate not > 0.
    """
    rate_kb_per_s = values["rate"]
    if rate_kb_per_s <= 0:
        raise ValueError(
            "rate must be > 0 KB/s (Toxiproxy treats 0 as unlimited, i.e. no fault); "
            'use e.g. rate = "64KB/s"'
        )
    return BandwidthFault(rate_kb_per_s=rate_kb_per_s, stream=stream)


def describe(attributes: Mapping[str, Any]) -> str:
    """``bandwidth 64 KB/s``."""
    return f"bandwidth {attributes.get('rate', '?')} KB/s"


KIND = FaultKind(
    name=NAME,
    keys=("rate",),
    parse=parse,
    summary="cap throughput at `rate` KB/s (Toxiproxy bandwidth toxic)",
    toxic_type="bandwidth",
    params=(Param("rate", "rate", "KB/s", default=64, minimum=1, maximum=10_000_000),),
    build=build,
    describe=describe,
)
