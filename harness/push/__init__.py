"""Server-push rooms: pushes the server originates, and how the members time them.

A scenario's ``[push]`` table (:mod:`harness.push.settings`) says that the server speaks by
itself (a heartbeat, updates) and how its pushes are timed; :mod:`harness.push.trigger` builds
the HTTP request that makes the server push, when the harness triggers pushes itself. The
members' side (one timer per member, the trigger loop) is in :mod:`harness.loadgen.pushes`.
"""

from __future__ import annotations

from harness.push.settings import (
           HEARTBEAT,
           SERVER_CLOCK,
           TIMINGS,
           TRIGGER,
           PushSettings,
           TriggerSettings,
)

__all__ = ["HEARTBEAT", "SERVER_CLOCK", "TIMINGS", "TRIGGER", "PushSettings",
           "TriggerSettings"]
