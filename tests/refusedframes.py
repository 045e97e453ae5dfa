"""A protocol whose acknowledgements the reference server refuses, named in a scenario as
``tests.refusedframes:RefusedAcks``.

It is roomchaos in every other frame, so its members join, broadcast and are delivered to as
ever; but each ack has a type the server does not know, so every delivery costs the server a
protocol error (``roomserver_protocol_errors_total``). Against a server that awaits no ack
(``delivery = "write"``) nothing else changes: a run whose only fault is that count.
"""

from __future__ import annotations

import json

from harness.protocols import Delivered, ErrorReply, Event, Other
from harness.protocols.roomchaos import RoomChaos

__all__ = ["RefusedAcks"]


class RefusedAcks(RoomChaos):
    """roomchaos, with acks of a type the reference server refuses (``thanks``)."""

    name = "refused-acks"

    def ack_frame(self, message: Delivered) -> str:
        return '{"type":"thanks","id":' + json.dumps(message.id) + "}"

    def classify(self, raw: str | bytes) -> Event:
        event = super().classify(raw)
        # The server's answer to a refused ack: no operation waits for it, and it must not
        # answer the one that does.
        if isinstance(event, ErrorReply) and event.code == "unknown_type":
            return Other("the server refused an ack", event.frame)
        return event
