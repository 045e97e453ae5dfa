"""Member faults in the load generator: commands in, switches for the members, reports out.

* **In**: the master (or local runner) follows the run's control file (``--control-file``,
  one :class:`~harness.faults.member_commands.MemberFaultCommand` per line) and the web UI's Chaos
  tab
  calls :meth:`MemberFaults.dispatch`. Either way the command goes to every process that runs
  members with the custom message ``room_member_fault`` (a local runner's ``send_message``
  calls the handler directly, so one path serves both).
* **Switches**: each process keeps the commands in force; a member asks
  :meth:`MemberFaults.wanted` whether it must act a fault out, and
  :meth:`MemberFaults.wait_lifted` blocks it until the fault is lifted.
* **Out**: members report what they measured while acting a fault out
  (:meth:`MemberFaults.report`, message ``room_member_fault_report``); the master appends each
  report as a JSON line to ``--member-faults-file`` for the harness.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import gevent
from gevent.event import Event

from harness.faults.member_commands import DRAIN, MemberFaultCommand
from harness.loadgen.collector import collects, register_collector
from harness.measure.tail import LineTail

__all__ = ["MemberFaults", "member_faults"]

logger = logging.getLogger(__name__)

COMMAND = "room_member_fault"
REPORT = "room_member_fault_report"
#: How often the master looks for new lines in the control file, in seconds.
CONTROL_POLL = 0.1


class MemberFaults:
    """The member faults of one Locust process (attach once, from ``events.init``)."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        #: Commands in force, by fault kind (only those switched on).
        self.active: dict[str, MemberFaultCommand] = {}
        #: Set by the :data:`~harness.faults.member_commands.DRAIN` command: members start nothing
        #: new.
        self.draining = False
        #: Called when the harness lifts the drain: the run ends (harness.loadgen.inflight).
        self.on_run_end: list[Callable[[], None]] = []
        self._changed = Event()
        self._file: IO[str] | None = None
        self._follower: gevent.Greenlet | None = None

    def attach(self, control_file: str = "", reports_file: str = "") -> None:
        """Register the messages; on the master (or local runner) follow ``control_file`` and
        write members' reports to ``reports_file``."""
        runner = self.environment.runner
        if runner is None:
            return
        if runs_members(runner):
            runner.register_message(COMMAND, self._on_command)
        self._file = register_collector(runner, REPORT, self._on_report, reports_file)
        if control_file and collects(runner):
            self._follower = gevent.spawn(self._follow, Path(control_file))
            self.environment.events.quitting.add_listener(lambda **_: self.close())

    def close(self) -> None:
        if self._follower is not None:
            self._follower.kill(block=False)
        if self._file is not None:
            self._file.close()
            self._file = None

    # In.

    def dispatch(self, command: MemberFaultCommand) -> None:
        """Hand ``command`` to every process that runs members (call on the master)."""
        self.environment.runner.send_message(COMMAND, command.to_dict())

    def _follow(self, path: Path) -> None:
        control = LineTail(path)
        while True:
            gevent.sleep(CONTROL_POLL)
            self.dispatch_new(control)

    def dispatch_new(self, control: LineTail) -> None:
        """Dispatch each command completed in the control file since the last call (a
        half-written line waits for the rest); a bad line is logged and skipped."""
        for line in control.new_lines():
            try:
                self.dispatch(MemberFaultCommand.from_dict(json.loads(line)))
            except ValueError as exc:
                logger.error("control file %s: %s", control.path, exc)

    def _on_command(self, msg: Any, **_: Any) -> None:
        command = MemberFaultCommand.from_dict(msg.data)
        if command.kind == DRAIN:
            self.draining = command.on
            if not command.on:
                for listener in self.on_run_end:
                    listener()
            return
        self.active = switched(self.active, command, self.slow_members())
        self._changed.set()
        self._changed = Event()

    def slow_members(self) -> int:
        """How many slow members the run has (``--slow-urls``): the full set that a command
        for every member (``members`` None) stands for."""
        urls = getattr(getattr(self.environment, "parsed_options", None), "slow_urls", "")
        urls = str(urls or "")
        return len([url for url in urls.split(",") if url.strip()])

    # Switches.

    def wanted(self, kind: str, slow_index: int) -> bool:
        """Whether the slow member ``slow_index`` must act fault ``kind`` out now."""
        command = self.active.get(kind)
        return command is not None and command.applies_to(slow_index)

    def settings(self, kind: str, slow_index: int) -> dict[str, int] | None:
        """The settings of fault ``kind`` if it is in force for ``slow_index``, else None."""
        command = self.active.get(kind)
        if command is None or not command.applies_to(slow_index):
            return None
        return dict(command.settings or {})

    def wait_lifted(self, kind: str, slow_index: int, timeout: float) -> bool:
        """Block until fault ``kind`` is lifted for ``slow_index`` or ``timeout`` seconds pass;
        True when it was lifted."""
        deadline = time.monotonic() + timeout
        while self.wanted(kind, slow_index):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.wait(left)
        return True

    # Out.

    def report(self, entry: dict[str, Any]) -> None:
        """Send one measurement of a member acting a fault out to the master's file."""
        runner = self.environment.runner
        if runner is not None:
            runner.send_message(REPORT, dict(entry, time=entry.get("time", time.time())))

    def _on_report(self, msg: Any, **_: Any) -> None:
        if self._file is not None:
            self._file.write(json.dumps(msg.data) + "\n")


def switched(active: dict[str, MemberFaultCommand], command: MemberFaultCommand,
             slow_members: int) -> dict[str, MemberFaultCommand]:
    """The commands in force once ``command`` is applied to ``active``.

    A command's members are a set, and None stands for the full set, every slow member
    ``0 .. slow_members - 1``: switching members on adds them to those already on, lifting
    members removes only them. So lifting one member of an all-members stall leaves the others
    stalled, and switching one on while all are on leaves all on.
    """
    everyone = frozenset(range(slow_members))

    def members_of(item: MemberFaultCommand) -> frozenset[int]:
        return everyone if item.members is None else frozenset(item.members)

    current = active.get(command.kind)
    members = members_of(current) if current is not None else frozenset()
    members = members | members_of(command) if command.on else members - members_of(command)
    result = {kind: item for kind, item in active.items() if kind != command.kind}
    base = command if command.on else current
    if members and base is not None:
        result[command.kind] = dataclasses.replace(base, on=True, members=tuple(sorted(members)))
    return result


def runs_members(runner: Any) -> bool:
    """Whether ``runner`` runs members (a local runner or a worker, not a master)."""
    from locust.runners import MasterRunner

    return not isinstance(runner, MasterRunner)


_registry: weakref.WeakKeyDictionary[Any, MemberFaults] = weakref.WeakKeyDictionary()


def member_faults(environment: Any) -> MemberFaults:
    """The member faults of ``environment`` (created on first use; attach it once)."""
    faults = _registry.get(environment)
    if faults is None:
        faults = _registry[environment] = MemberFaults(environment)
    return faults
