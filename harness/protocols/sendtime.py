"""The send time, carried in the message ids the load generator writes itself.

A member's broadcast id is ``{member}-{counter}@{microseconds}``, e.g.
``fast-3-17@1765085267123456``: the sender's name, its own counter (read back by
:attr:`~harness.protocols.Delivered.counter` for order and loss) and, after ``@``, the
sender's wall clock (:func:`time.time`) in whole microseconds. Every protocol that hands the
id back in its deliveries hands back the send time with it, so a receiver in any Locust
process (another worker, another machine) can time the delivery, with or without a send-time
field in the protocol.

Clock assumption: delivery time is the receiver's clock minus the sender's. Inside one
machine both read the same clock. Across machines it is off by their clock skew (NTP keeps it
to a few milliseconds on a LAN; check ``chronyc tracking`` or ``timedatectl``), so compare
delivery times across hosts only well above that skew.
"""

from __future__ import annotations

__all__ = ["STAMP_SEPARATOR", "send_time", "stamped", "unstamped"]

#: Between the id proper and the send time.
STAMP_SEPARATOR = "@"
#: Digits of a plausible stamp: microseconds since 1970 have 16 now, 17 from the year 2286.
_MAX_DIGITS = 17


def stamped(message_id: str, sent_at: float) -> str:
    """``message_id`` with the send time ``sent_at`` (seconds, :func:`time.time`) appended."""
    return f"{message_id}{STAMP_SEPARATOR}{round(sent_at * 1_000_000)}"


def _split(message_id: object) -> tuple[str, str | None]:
    """``(id proper, stamp digits or None)`` of a message id."""
    text = str(message_id)
    head, separator, digits = text.rpartition(STAMP_SEPARATOR)
    if not separator or not digits.isdigit() or len(digits) > _MAX_DIGITS:
        return text, None
    return head, digits


def send_time(message_id: object) -> float | None:
    """The send time (seconds) a stamped id carries; ``None`` for an id without one."""
    digits = _split(message_id)[1]
    return None if digits is None else int(digits) / 1_000_000


def unstamped(message_id: object) -> str:
    """The id without its send time (``fast-3-17@1765085267123456`` -> ``fast-3-17``)."""
    return _split(message_id)[0]
