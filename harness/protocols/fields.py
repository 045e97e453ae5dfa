"""Reading the fields of a decoded frame: typed or ``None``, never an exception."""

from __future__ import annotations

import math
from typing import Any

from harness.protocols import base

__all__ = ["integer", "message", "seconds", "text"]


def text(value: Any) -> str | None:
    return value if type(value) is str else None


def integer(value: Any) -> int | None:
    return value if type(value) is int else None


def seconds(value: Any) -> float | None:
    """A JSON number as finite float seconds; ``None`` for anything else (booleans included)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:  # more digits than a double holds
            return None
    return None


def message(fields: dict[str, Any], frame: Any, raw: str | bytes) -> base.Event:
    """docs/wire-protocol.md's message object (``room``, ``from``, ``id``, ``sent_at``, ``seq``,
    ``body``) as :class:`~.base.Delivered`; :class:`~.base.Unparseable` without a usable id.
    """
    message_id = fields.get("id")
    if type(message_id) is not str and type(message_id) is not int:
        return base.Unparseable(f"message without a string or integer id: {message_id!r}", raw)
    return base.Delivered(text(fields.get("room")), text(fields.get("from")), message_id,
                          seconds(fields.get("sent_at")), integer(fields.get("seq")),
                          fields.get("body"), frame)
