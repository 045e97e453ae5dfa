"""Held across await on the reference server: naive is caught with no slow member at all.

Every member acks at once and there is no proxy: nothing is slow. naive still awaits
each member's ack while it holds the room's read lock, and the held-across-await
detector reports that cause itself, every time: the suspend threshold is 10 s, so the
report cannot come from a wait's length, only from what was awaited (a reply). spawn
and fixed never await under the lock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from harness.net.httpget import get_json
from harness.rig.launched import ReferenceTarget
from harness.target import http_base
from tests.roomclient import RoomClient

pytestmark = pytest.mark.integration

ROOM = "lobby"
MEMBERS = 8
BROADCAST_INTERVAL = 0.05
RUN_SECONDS = 4.0
SUSPEND_THRESHOLD = 10.0  # far longer than any ack here: only the kind of wait can report


async def _drive(url: str) -> None:
    clients = [await RoomClient.open(url) for _ in range(MEMBERS)]  # each acks at once
    for index, client in enumerate(clients):
        await client.join(ROOM, f"member-{index}")
    end = time.monotonic() + RUN_SECONDS
    sequence = 0
    while time.monotonic() < end:
        sequence += 1
        for index, client in enumerate(clients):
            await client.broadcast(ROOM, f"{index}-{sequence}", "hello")
        await asyncio.sleep(BROADCAST_INTERVAL)
    for client in clients:
        await client.close()


def _reports(mode: str, tmp_path: Path) -> list[dict[str, object]]:
    target = ReferenceTarget(mode, tmp_path, lock_wait_threshold=0.1, send_timeout=10.0,
                             lock_suspend_threshold=SUSPEND_THRESHOLD)
    with target as info:
        asyncio.run(_drive(info.url))
        reports: list[dict[str, object]] = get_json(f"{http_base(info.url)}/debug/locks")
    return reports


def test_naive_is_reported_held_across_await_at_zero_latency(tmp_path: Path) -> None:
    reports = _reports("naive", tmp_path)
    suspended = [r for r in reports if r["kind"] == "held_across_await"]
    assert suspended, f"no held_across_await report; reports: {reports}"
    report = suspended[0]
    subject = report["subject"]
    assert isinstance(subject, dict)
    assert "naive.py" in subject["acquire_site"] and "in broadcast" in subject["acquire_site"]
    # The stack at the await point goes through the member's delivery (send, then ack).
    assert any("in Connection.deliver" in line for line in subject["current_stack"])
    assert str(report["awaited"]).startswith("reply (a Future): ")
    assert float(str(report["duration_s"])) < SUSPEND_THRESHOLD


@pytest.mark.parametrize("mode", ["spawn", "fixed"])
def test_spawn_and_fixed_never_hold_the_lock_across_await(mode: str, tmp_path: Path) -> None:
    assert _reports(mode, tmp_path) == []
