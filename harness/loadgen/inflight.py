"""Operations in flight, shipped live, and the end of the run for the operation history.

Every :data:`FLUSH_INTERVAL` each process that runs members ships what its
:class:`~harness.loadgen.history.OperationHistory` holds in flight (format:
:mod:`harness.measure.inflight`); the collecting process appends it to ``inflight.jsonl`` next to
the
samples file. When the run ends, the history ends it: every owed delivery still missing is
lost, and every operation still in flight is fired as an ``unfinished`` sample with its age;
the process then ships one last line with ``"ended": true``. The run ends when the harness
lifts its drain (:data:`~harness.faults.member_commands.DRAIN` off, after the drain), or else when
the
test stops or Locust quits (a Locust run by hand; ``quitting`` listeners run last-registered
first, so attach this after the other recorders, whose files it still writes to).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from harness.loadgen.collector import JsonLinesShipper
from harness.loadgen.history import Unfinished, operation_history
from harness.loadgen.memberfaults import member_faults, runs_members
from harness.loadgen.order_tracker import order_recorder
from harness.measure.inflight import MAX_AGES, waiting_lines
from harness.runfolder import RunFolder

__all__ = ["InFlightRecorder", "UNFINISHED"]

MESSAGE_TYPE = "room_inflight"
FLUSH_INTERVAL = 0.25  # the drain at the run's end waits for a line saying nothing is in flight
#: The error of an operation still in flight when the run ended.
UNFINISHED = "unfinished"


class InFlightRecorder(JsonLinesShipper):
    """Ship this process's operations in flight; end the run's history when the test stops."""

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment, path, MESSAGE_TYPE, FLUSH_INTERVAL)
        self.process = f"{socket.gethostname()}-{os.getpid()}"
        self._final_shipped = False

    def attach(self) -> bool:
        if not super().attach():
            return False
        self.environment.events.test_start.add_listener(lambda **_: self.restart())
        self.environment.events.test_stopping.add_listener(lambda **_: self.end_run())
        self.environment.events.quitting.add_listener(lambda **_: self.end_run())
        member_faults(self.environment).on_run_end.append(self.end_run)
        return True

    def pending_lines(self) -> list[dict[str, Any]]:
        runner = self.environment.runner
        if runner is not None and not runs_members(runner):
            return []  # a master runs no members: its (empty) history says nothing
        history = operation_history(self.environment)
        if history.ended:
            if self._final_shipped:
                return []
            self._final_shipped = True
            return [{"time": time.time(), "process": self.process, "waiting": [],
                     "ended": True}]
        oldest = history.waiting_oldest(MAX_AGES)
        waiting = {key: [age * 1000 for age in ages] for key, (_, ages) in oldest.items()}
        counts = {key: count for key, (count, _) in oldest.items()}
        return [{"time": time.time(), "process": self.process,
                 "waiting": waiting_lines(waiting, counts),
                 "draining": member_faults(self.environment).draining}]

    def restart(self) -> None:
        """A new test starts (in the web UI, a swarm after a stop): a fresh history."""
        if self._final_shipped or operation_history(self.environment).ended:
            operation_history(self.environment).restart()
            member_faults(self.environment).draining = False
            self._final_shipped = False

    def end_run(self) -> None:
        """Judge what is owed, fire the unfinished samples, ship the last counts."""
        runner = self.environment.runner
        if runner is None or not runs_members(runner):
            return
        history = operation_history(self.environment)
        if history.ended:
            return
        for entry in history.end_run():
            self._fire(entry)
        self.flush()
        order_recorder(self.environment).flush()

    def _fire(self, entry: Unfinished) -> None:
        self.environment.events.request.fire(
            request_type=entry.member_kind, name=entry.op,
            response_time=entry.age_s * 1000, response_length=0,
            exception=UnfinishedOperation(UNFINISHED),
            context={"member": entry.member, "unfinished": True})


class UnfinishedOperation(Exception):
    """An operation still in flight when the run ended."""


def inflight_path(samples_file: str) -> str:
    """``inflight.jsonl`` next to ``samples_file`` ("" without one)."""
    return str(RunFolder.beside(samples_file).inflight) if samples_file else ""
