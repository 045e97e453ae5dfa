"""What a protocol's ``classify`` returned, narrowed for a test: one event of a kind, or the
several events of one frame (:data:`harness.protocols.base.Events`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from harness.protocols import Event
from harness.protocols.base import Events

__all__ = ["each", "one"]

E = TypeVar("E", bound=Event)


def one(events: Events, kind: type[E]) -> E:
    """``events`` as the one event of ``kind`` it must be."""
    assert isinstance(events, kind), events
    return events


def each(events: Events) -> Sequence[Event]:
    """``events`` as the several events of one frame it must be."""
    assert not isinstance(events, Event), events
    return events
