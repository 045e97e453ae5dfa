"""Delivery order and loss, seen by each receiving member.

What counts (the definitions ``deliver.reordered`` and ``deliver.lost`` judge):

- A **stream** is what one receiver can expect to arrive in order, gap-free:
  - where the protocol numbers each member's messages (``seq`` in
    :class:`~harness.protocols.Delivered`: the server numbers the messages it produces for
    one connection, 1, 2, 3...), one stream per receiving connection, starting at 1;
  - else, one stream per sender and room, numbered by the sender's own counter carried at
    the end of each message id (:attr:`Delivered.counter`). The counter advances only when
    the server confirmed a broadcast (or once it is sent, where the protocol confirms none),
    so a refused broadcast leaves no gap.
    Such a stream lasts one continuous membership of the receiver (from its confirmed join
    to its next join, or the end of its connection): messages sent while it was out are not
    expected, and its first message from a sender in each membership sets the start. (A
    message of the previous membership that arrives only after the next join is confirmed
    would set that start too early; with ``away`` far above the delivery time it does not
    happen.)
- A message numbered above the highest seen so far opens a **gap** for every number
  skipped. A message that fills a gap later is **reordered** (it arrived after a message
  numbered above it). A number seen twice, or one below the stream's start, is
  **duplicated**.
- A number still missing :data:`LOSS_GRACE` (5) seconds after a later one arrived, or when
  its stream ends (the connection closed, the receiver joined again), is **lost**. Should
  it arrive after all, it is counted reordered as well. So a message the server never sent
  after a member's connection broke is not counted: only gaps between messages that did
  arrive. Gaps opened in the run's last 5 seconds are judged only if their stream ends
  before the run does.

Each Locust process sums its receivers' counts every 0.5 s (expiring old gaps) and ships
them to the collecting process,
which appends one JSON line per batch and member kind to ``order.jsonl`` next to the samples
file: ``{"time", "member_kind", "received", "reordered", "duplicated", "lost"}``.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

from ..delivery_order import ORDER_COUNTS, ORDER_FILE_NAME
from ..protocols import Delivered
from .collector import JsonLinesShipper

__all__ = ["DeliveryOrder", "OrderRecorder", "order_recorder"]

MESSAGE_TYPE = "room_order"
FLUSH_INTERVAL = 0.5
#: A gap wider than this is counted lost at once instead of remembered number by number.
MAX_REMEMBERED_GAP = 10_000
#: Seconds a number may stay missing, after a later one arrived, before it counts as lost.
LOSS_GRACE = 5.0


class _Stream:
    __slots__ = ("given_up", "highest", "missing")

    def __init__(self, highest: int) -> None:
        self.highest = highest
        #: Numbers skipped, with the time the gap was seen.
        self.missing: dict[int, float] = {}
        #: Numbers counted lost (bounded): one that arrives after all is reordered, not a dup.
        self.given_up: set[int] = set()


class DeliveryOrder:
    """The order and loss counts of one receiving member (Sans-I/O: call it, read it)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._streams: dict[Any, _Stream] = {}

    def observe(self, message: Delivered, now: float | None = None) -> None:
        """Count one delivered message (``now``: the time it arrived, default the clock)."""
        if message.seq is not None:
            key: Any = None
            number = message.seq
            start = 0  # the server numbers this connection's messages from 1
        else:
            counter = message.counter
            if counter is None:
                return  # nothing to order by
            key, number, start = (message.room, message.sender), counter, counter - 1
        self.counts["received"] += 1
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(start)
        if number > stream.highest:
            gap = number - stream.highest - 1
            if gap > MAX_REMEMBERED_GAP:
                self.counts["lost"] += gap
            elif gap:
                seen = time.monotonic() if now is None else now
                stream.missing.update(dict.fromkeys(range(stream.highest + 1, number), seen))
            stream.highest = number
        elif stream.missing.pop(number, None) is not None or number in stream.given_up:
            stream.given_up.discard(number)
            self.counts["reordered"] += 1
        else:
            self.counts["duplicated"] += 1

    def expire(self, now: float | None = None) -> None:
        """Count as lost every number missing for :data:`LOSS_GRACE` seconds or more."""
        now = time.monotonic() if now is None else now
        for stream in self._streams.values():
            late = [number for number, seen in stream.missing.items() if now - seen >= LOSS_GRACE]
            for number in late:
                del stream.missing[number]
                if len(stream.given_up) < MAX_REMEMBERED_GAP:
                    stream.given_up.add(number)
            self.counts["lost"] += len(late)

    def _end(self, key: Any) -> None:
        self.counts["lost"] += len(self._streams.pop(key).missing)

    def joined(self) -> None:
        """A new membership begins: streams numbered by senders' counters end here."""
        for key in [key for key in self._streams if key is not None]:
            self._end(key)

    def close(self) -> None:
        """The connection ended: every stream ends."""
        for key in list(self._streams):
            self._end(key)

    def take(self) -> Counter[str]:
        """The counts since the last call (and start over)."""
        counts, self.counts = self.counts, Counter()
        return counts


class OrderRecorder(JsonLinesShipper):
    """Every :data:`FLUSH_INTERVAL`, take the counts of this process's receivers (expiring
    their old gaps), sum them per member kind and ship them to the collector. Workers learn
    the path from the master's options, which arrive before their first user starts."""

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment, path, MESSAGE_TYPE, FLUSH_INTERVAL)
        self._receivers: weakref.WeakKeyDictionary[DeliveryOrder, str] = (
            weakref.WeakKeyDictionary())

    def track(self, receiver: DeliveryOrder, member_kind: str) -> None:
        """Take ``receiver``'s counts from now on, as those of a ``member_kind`` member."""
        self._receivers[receiver] = member_kind

    def pending_lines(self) -> list[dict[str, Any]]:
        sums: dict[str, Counter[str]] = {}
        for receiver, kind in list(self._receivers.items()):
            receiver.expire()
            sums.setdefault(kind, Counter()).update(receiver.take())
        if not self.path:  # no order.jsonl anywhere (the benchmark's members): nothing to ship
            return []
        now = time.time()
        return [{"time": now, "member_kind": kind, **{name: counts[name] for name in ORDER_COUNTS}}
                for kind, counts in sums.items() if any(counts.values())]


_recorders: dict[Any, OrderRecorder] = {}


def order_recorder(environment: Any) -> OrderRecorder:
    """The recorder of ``environment``: created and attached on first use, writing
    ``order.jsonl`` next to ``--samples-file`` (nowhere without one)."""
    recorder = _recorders.get(environment)
    if recorder is None:
        samples_file = getattr(environment.parsed_options, "samples_file", "") or ""
        path = str(Path(samples_file).with_name(ORDER_FILE_NAME)) if samples_file else ""
        recorder = _recorders[environment] = OrderRecorder(environment, path)
        recorder.attach()
    return recorder
