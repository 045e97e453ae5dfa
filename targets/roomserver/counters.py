"""The server's counters, exported on ``/metrics``; every part of the server may count."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerMetrics"]


@dataclass
class ServerMetrics:
    """Counters (and one gauge, ``pending_sends``) exported on ``/metrics``."""

    connections: int = 0
    broadcasts: int = 0
    delivery_failures: int = 0
    slow_consumer_disconnects: int = 0
    output_limit_disconnects: int = 0
    protocol_errors: int = 0
    internal_errors: int = 0
    #: Send tasks started and not finished yet (spawn mode), a gauge.
    pending_sends: int = 0
