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
- **Lost** is not judged from gaps here: a gap says nothing about a message that was never
  followed by another, nor when to give up waiting. Deliveries a member was *owed* and never
  got are counted by the operation history (:mod:`harness.loadgen.history`), which judges
  every one of them by the end of the run; :class:`OrderRecorder` ships its ``owed`` and
  ``lost`` counts with these.

Each Locust process sums its receivers' counts every 0.5 s and ships them to the collecting
process, which appends one JSON line per batch and member kind to ``order.jsonl`` next to
the samples file: ``{"time", "member_kind", "received", "reordered", "duplicated", "lost",
"owed", "lost_sent"}`` (``lost_sent``, only with losses: ``[[send time, count], ...]``).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from harness.loadgen.collector import JsonLinesShipper
from harness.loadgen.history import operation_history
from harness.measure.delivery_order import LOST_SENT, ORDER_COUNTS
from harness.protocols import Delivered
from harness.runfolder import RunFolder

__all__ = ["DeliveryOrder", "OrderRecorder", "order_recorder"]

MESSAGE_TYPE = "room_order"
FLUSH_INTERVAL = 0.5
#: Missing numbers remembered per stream (to tell a late arrival from a duplicate); beyond
#: it the oldest are forgotten, and a forgotten number that arrives counts as duplicated.
MAX_REMEMBERED_GAP = 10_000


class _Stream:
    __slots__ = ("highest", "missing")

    def __init__(self, highest: int) -> None:
        self.highest = highest
        #: Numbers skipped and not seen since (insertion-ordered, bounded).
        self.missing: dict[int, None] = {}


class DeliveryOrder:
    """The order and loss counts of one receiving member (Sans-I/O: call it, read it)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._streams: dict[Any, _Stream] = {}

    def observe(self, message: Delivered) -> None:
        """Count one delivered message."""
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
            first = max(stream.highest + 1, number - MAX_REMEMBERED_GAP)
            stream.missing.update(dict.fromkeys(range(first, number)))
            while len(stream.missing) > MAX_REMEMBERED_GAP:
                del stream.missing[next(iter(stream.missing))]
            stream.highest = number
        elif number in stream.missing:
            del stream.missing[number]
            self.counts["reordered"] += 1
        else:
            self.counts["duplicated"] += 1

    def joined(self) -> None:
        """A new membership begins: streams numbered by senders' counters end here."""
        for key in [key for key in self._streams if key is not None]:
            del self._streams[key]

    def close(self) -> None:
        """The connection ended: every stream ends."""
        self._streams.clear()

    def take(self) -> Counter[str]:
        """The counts since the last call (and start over)."""
        counts, self.counts = self.counts, Counter()
        return counts


class OrderRecorder(JsonLinesShipper):
    """Every :data:`FLUSH_INTERVAL`, take the counts of this process's receivers and its
    operation history's owed and lost deliveries, sum them per member kind and ship them to
    the collector. Workers learn the path from the master's options, which arrive before
    their first user starts.

    Each tracked receiver counts straight into its member kind's sum, so a flush costs the
    same with 10 members or 10,000 (walking every receiver's own counts each time cost
    about 4 ms a flush at 2,000 members)."""

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment, path, MESSAGE_TYPE, FLUSH_INTERVAL)
        #: Per member kind: what its receivers counted since the last flush.
        self._sums: dict[str, Counter[str]] = {}

    def track(self, receiver: DeliveryOrder, member_kind: str) -> None:
        """Count ``receiver``'s deliveries from now on as those of a ``member_kind`` member
        (with what it counted so far)."""
        shared = self._sums.setdefault(member_kind, Counter())
        if receiver.counts is shared:  # tracked already: its counts are in the sums
            return
        shared.update(receiver.take())
        receiver.counts = shared

    def pending_lines(self) -> list[dict[str, Any]]:
        sums: dict[str, Counter[str]] = {}
        for kind, shared in self._sums.items():
            # Emptied in place: every receiver of the kind holds this very Counter.
            sums[kind] = Counter(shared)
            shared.clear()
        history = operation_history(self.environment)
        for kind, counts in history.take().items():
            sums.setdefault(kind, Counter()).update(counts)
        lost_sent = history.take_lost_sent()
        if not self.path:  # no order.jsonl anywhere (the benchmark's members): nothing to ship
            return []
        now = time.time()
        return [{"time": now, "member_kind": kind, **{name: counts[name] for name in ORDER_COUNTS},
                 **({LOST_SENT: sorted([sent, count] for sent, count in lost_sent[kind].items())}
                    if lost_sent.get(kind) else {})}
                for kind, counts in sums.items() if any(counts.values())]


_recorders: dict[Any, OrderRecorder] = {}


def order_recorder(environment: Any) -> OrderRecorder:
    """The recorder of ``environment``: created and attached on first use, writing
    ``order.jsonl`` next to ``--samples-file`` (nowhere without one)."""
    recorder = _recorders.get(environment)
    if recorder is None:
        samples_file = getattr(environment.parsed_options, "samples_file", "") or ""
        path = str(RunFolder.beside(samples_file).order) if samples_file else ""
        recorder = _recorders[environment] = OrderRecorder(environment, path)
        recorder.attach()
    return recorder
