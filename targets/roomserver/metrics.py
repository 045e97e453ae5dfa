"""Prometheus text exposition for ``GET /metrics``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from targets.roomserver.connection import Connection
from targets.roomserver.context import ServerContext

__all__ = ["render_metrics"]


def render_metrics(
    ctx: ServerContext, connections: Iterable[Connection], lock_reports: Sequence[Any]
) -> str:
    """Render the server's gauges and counters in Prometheus text format 0.0.4."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: dict[str, float]) -> None:
        lines.append(f"# HELP roomserver_{name} {help_text}")
        lines.append(f"# TYPE roomserver_{name} {kind}")
        for labels, value in samples.items():
            lines.append(f"roomserver_{name}{labels} {value:g}")

    open_connections = list(connections)
    depths = [conn.outbox.qsize() for conn in open_connections]
    metric("info", "gauge", "Server mode and delivery.",
           {f'{{mode="{ctx.mode}",delivery="{ctx.delivery}"}}': 1})
    metric("rooms", "gauge", "Rooms with at least one member.", {"": len(ctx.rooms.rooms)})
    metric("members", "gauge", "Members over all rooms.", {"": ctx.rooms.member_count()})
    metric("connections", "gauge", "Open WebSocket connections.", {"": len(open_connections)})
    metric("connections_total", "counter", "WebSocket connections accepted.",
           {"": ctx.metrics.connections})
    metric("outbox_depth", "gauge", "Messages waiting in per-member outboxes (fixed mode).",
           {'{stat="sum"}': sum(depths), '{stat="max"}': max(depths, default=0)})
    metric("pending_sends", "gauge", "Send tasks started and not finished yet (spawn mode).",
           {"": ctx.metrics.pending_sends})
    metric("broadcasts_total", "counter", "Broadcast commands run.", {"": ctx.metrics.broadcasts})
    metric("delivery_failures_total", "counter",
           "Deliveries that failed: write or ack over the send timeout, or a closed peer.",
           {"": ctx.metrics.delivery_failures})
    metric("slow_consumer_disconnects_total", "counter",
           "Members disconnected because their outbox was full.",
           {"": ctx.metrics.slow_consumer_disconnects})
    metric("output_limit_disconnects_total", "counter",
           "Connections closed (1008) because their unsent output passed the limit.",
           {"": ctx.metrics.output_limit_disconnects})
    metric("protocol_errors_total", "counter", "Frames answered with an error frame.",
           {"": ctx.metrics.protocol_errors})
    metric("internal_errors_total", "counter",
           "Commands that failed unexpectedly (answered with internal_error, logged).",
           {"": ctx.metrics.internal_errors})
    kinds = Counter(report.kind for report in lock_reports)
    metric("lock_reports_total", "counter", "Lock reports by kind (wait, hold, order, recursive).",
           {f'{{kind="{kind}"}}': kinds.get(kind, 0)
            for kind in ("wait", "hold", "order", "recursive")})
    return "\n".join(lines) + "\n"
