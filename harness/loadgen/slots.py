"""Which member is slow: the master hands out member slots in start order.

The first N members started (over all Locust processes) get the N slow URLs;
the rest are fast. A user asks for its slot with the custom message
``room_claim_slot``; the master answers ``room_slot`` to that worker. On a
local runner ``send_message`` calls the handler directly, so one code path
serves a single process and a master with workers alike, and slow-member
assignment happens once, on the master.
"""

from __future__ import annotations

import itertools
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from gevent.event import AsyncResult

__all__ = ["MemberSlot", "SlotAllocator", "SlotService", "SlotUnavailable", "slot_service"]

CLAIM = "room_claim_slot"
GRANT = "room_slot"
CLAIM_TIMEOUT = 15.0


class SlotUnavailable(Exception):
    """The master did not answer a slot claim in time."""


@dataclass(frozen=True)
class MemberSlot:
    index: int
    kind: str  # "fast" or "slow"
    url: str
    name: str
    room: str


class SlotAllocator:
    """Numbers members in the order they ask; turns a number into a slot."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next_index(self) -> int:
        return next(self._counter)

    @staticmethod
    def slot(index: int, fast_url: str, slow_urls: list[str], rooms: int) -> MemberSlot:
        room = f"room-{index % max(rooms, 1)}"
        if index < len(slow_urls):
            return MemberSlot(index, "slow", slow_urls[index], f"slow-{index}", room)
        return MemberSlot(index, "fast", fast_url, f"fast-{index}", room)


class SlotService:
    """Both ends of the slot protocol; attach once per Locust process."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.allocator = SlotAllocator()
        self._pending: dict[str, AsyncResult] = {}

    def attach(self) -> None:
        runner = self.environment.runner
        if runner is None:
            return
        from locust.runners import WorkerRunner

        if not isinstance(runner, WorkerRunner):
            runner.register_message(CLAIM, self._on_claim)
        from locust.runners import MasterRunner

        if not isinstance(runner, MasterRunner):
            runner.register_message(GRANT, self._on_grant)

    def restart(self) -> None:
        """Number members from 0 again (a new swarm), so its first members are slow."""
        self.allocator = SlotAllocator()

    def _on_claim(self, msg: Any, **_: Any) -> None:
        index = self.allocator.next_index()
        self.environment.runner.send_message(
            GRANT, {"request": msg.data["request"], "index": index}, client_id=msg.node_id
        )

    def _on_grant(self, msg: Any, **_: Any) -> None:
        waiter = self._pending.pop(msg.data["request"], None)
        if waiter is not None:
            waiter.set(int(msg.data["index"]))

    def claim(self, fast_url: str, slow_urls: list[str], rooms: int) -> MemberSlot:
        """Ask the master for the next slot and wait for it.

        Raises:
            SlotUnavailable: no answer within :data:`CLAIM_TIMEOUT` seconds.
        """
        request = uuid.uuid4().hex
        waiter: AsyncResult = AsyncResult()
        self._pending[request] = waiter
        self.environment.runner.send_message(CLAIM, {"request": request})
        waiter.wait(CLAIM_TIMEOUT)  # a local runner has answered already
        if not waiter.ready():
            self._pending.pop(request, None)
            raise SlotUnavailable(
                f"the Locust master gave no member slot within {CLAIM_TIMEOUT:g} s"
            )
        return SlotAllocator.slot(int(waiter.get()), fast_url, slow_urls, rooms)


_services: weakref.WeakKeyDictionary[Any, SlotService] = weakref.WeakKeyDictionary()


def slot_service(environment: Any) -> SlotService:
    """The slot service of ``environment`` (created and attached on first use)."""
    service = _services.get(environment)
    if service is None:
        service = _services[environment] = SlotService(environment)
        service.attach()
    return service
