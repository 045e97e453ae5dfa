"""Client-side wire protocols, one file each, Sans-I/O (see :mod:`harness.protocols.base`).

:data:`PROTOCOLS` maps a protocol's name to its class; adding a protocol is its
own file and one line here. :data:`ROOMCHAOS` is the stateless instance of
docs/protocol.md that the harness's members, benchmarks and tests share.
"""

from __future__ import annotations

from .base import (
    Broadcasted,
    ClientProtocol,
    Delivered,
    ErrorReply,
    Event,
    Joined,
    Left,
    MessageId,
    Other,
    Unparseable,
)
from .roomchaos import RoomChaos

__all__ = [
    "PROTOCOLS",
    "ROOMCHAOS",
    "Broadcasted",
    "ClientProtocol",
    "Delivered",
    "ErrorReply",
    "Event",
    "Joined",
    "Left",
    "MessageId",
    "Other",
    "RoomChaos",
    "Unparseable",
]

#: Every client protocol by name.
PROTOCOLS: dict[str, type[ClientProtocol]] = {
    RoomChaos.name: RoomChaos,
}

#: docs/protocol.md, client side; stateless, so one instance serves every connection.
ROOMCHAOS = RoomChaos()
