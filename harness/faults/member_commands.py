"""Member faults as commands: how the harness tells the load generator to act a fault out.

A member fault (:data:`harness.faults.MEMBER`, e.g. ``stall``) is done by the slow members
themselves, in the Locust processes. The run, a separate process, appends one JSON line per
command to a control file that the Locust master follows (``--control-file``,
:mod:`harness.loadgen.memberfaults`); the master hands each command to every process that runs
members through Locust's custom messages. The web UI's Chaos tab, which lives in the master,
hands its commands over directly. This module is the command's one definition, free of gevent
so that the harness can import it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DRAIN", "MemberFaultCommand", "append_command"]

#: Not a fault: the run's load is over; members start nothing new but keep reading, so that
#: deliveries still owed can arrive before the run judges them (harness.loadgen.history).
DRAIN = "drain"


@dataclass(frozen=True)
class MemberFaultCommand:
    """Switch member fault ``kind`` on or off.

    Attributes:
        kind: The fault kind's name (``"stall"``).
        on: True to start acting the fault out, False to lift it.
        members: Slow-member indexes (0 is the first slow member) it applies to; None: all.
        settings: The fault's settings (its :meth:`~harness.faults.Fault.toxic` attributes).
        issued: Wall-clock time the command was given.
    """

    kind: str
    on: bool
    members: tuple[int, ...] | None = None
    settings: dict[str, int] | None = None
    issued: float = 0.0

    def applies_to(self, slow_index: int) -> bool:
        """Whether the slow member with index ``slow_index`` acts this command out."""
        return self.members is None or slow_index in self.members

    def to_dict(self) -> dict[str, Any]:
        """The command as JSON (a control-file line, or a Locust message's data)."""
        return {"kind": self.kind, "on": self.on,
                "members": None if self.members is None else list(self.members),
                "settings": dict(self.settings or {}), "issued": self.issued}

    @classmethod
    def from_dict(cls, data: Any) -> MemberFaultCommand:
        """Read a command back.

        Raises:
            ValueError: not a command (one line saying why).
        """
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str) \
                or not isinstance(data.get("on"), bool):
            raise ValueError(f"not a member fault command: {data!r}")
        members = data.get("members")
        if members is not None and not (isinstance(members, list) and all(
                isinstance(index, int) and not isinstance(index, bool) for index in members)):
            raise ValueError(f"members must be a list of slow-member indexes, got {members!r}")
        settings = data.get("settings") or {}
        issued = data.get("issued", 0.0)
        return cls(data["kind"], data["on"], None if members is None else tuple(members),
                   dict(settings) if isinstance(settings, dict) else {},
                   float(issued) if isinstance(issued, int | float) else 0.0)


def append_command(path: Path, command: MemberFaultCommand) -> None:
    """Append ``command`` to the control file at ``path`` (one line, flushed at once)."""
    stamped = MemberFaultCommand(command.kind, command.on, command.members, command.settings,
                                 command.issued or time.time())
    with open(path, "a", encoding="utf-8") as control:
        control.write(json.dumps(stamped.to_dict()) + "\n")
