"""When each message id was sent, for protocols whose messages carry no send time."""

from __future__ import annotations

from collections import OrderedDict

from harness.protocols import MessageId

__all__ = ["SentLog"]


class SentLog:
    """The send time (:func:`time.time`) of the last ``capacity`` message ids sent.

    Shared by the members of one Locust process: a receiver looks up the id a
    delivered message carries. Ids sent by another process are not known here,
    so with Locust workers a protocol without send times measures only the
    deliveries between members of the same process.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._sent: OrderedDict[str, float] = OrderedDict()

    def record(self, message_id: MessageId, sent_at: float) -> None:
        self._sent[str(message_id)] = sent_at
        if len(self._sent) > self.capacity:
            self._sent.popitem(last=False)

    def sent_at(self, message_id: MessageId) -> float | None:
        """When ``message_id`` was sent, or ``None`` if this process did not send it."""
        return self._sent.get(str(message_id))
