"""Global options, like go-deadlock's ``Opts``.

One module-level :data:`options` object holds the settings every monitored lock
reads at acquire time. It is plain data at the bottom of the package: every
other module may read it, and it imports none of them but :mod:`.sinks` (for the
default sink). :func:`~lockwatch.configure` and
:func:`~lockwatch.reset`, in :mod:`.config`, change it.

Thresholds are in seconds. ``None`` or a value ``<= 0`` turns a check off.
"""

from __future__ import annotations

import math

from lockwatch.sinks import LoggingSink, Sink

__all__ = ["Options", "options", "normalize_threshold"]

DEFAULT_WAIT_THRESHOLD = 30.0
DEFAULT_MAX_ORDER_PAIRS = 10_000


def normalize_threshold(value: float | None) -> float | None:
    """Return ``value`` as a positive finite threshold, or ``None`` for "off"."""
    if value is None:
        return None
    value = float(value)
    if value <= 0 or math.isnan(value) or math.isinf(value):
        return None
    return value


class Options:
    """Current global settings. Read them; change them with :func:`~lockwatch.configure`."""

    __slots__ = (
        "enabled",
        "wait_threshold",
        "hold_threshold",
        "suspend_threshold",
        "sinks",
        "order_detection",
        "max_order_pairs",
    )

    enabled: bool
    wait_threshold: float | None
    hold_threshold: float | None
    suspend_threshold: float | None
    sinks: list[Sink]
    order_detection: bool
    max_order_pairs: int

    def __init__(self) -> None:
        self.set_defaults()

    def set_defaults(self) -> None:
        """Restore every setting to its default value."""
        self.enabled = True
        self.wait_threshold = DEFAULT_WAIT_THRESHOLD
        self.hold_threshold = None
        self.suspend_threshold = None
        self.sinks = [LoggingSink()]
        self.order_detection = True
        self.max_order_pairs = DEFAULT_MAX_ORDER_PAIRS


options = Options()
