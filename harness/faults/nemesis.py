"""The nemesis: the one place that applies and lifts faults, for a run, ``sweep`` and the Chaos tab.

Every fault goes through :class:`Nemesis`, whatever its kind; it dispatches on the kind's
:attr:`~harness.faults.FaultKind.where`, never on its name:

* a **proxy** fault is a Toxiproxy toxic on each chosen slow member's own proxy. Its toxic is
  named :func:`toxic_name` (``latency-0``: the kind and the fault's position among the faults
  of that kind applied together, 0 for the Chaos tab's one). Applying it again updates that
  toxic in place. Lifting a kind removes *every* toxic of the kind's
  :attr:`~harness.faults.FaultKind.toxic_type` from the proxy, whoever added it (a toxic left
  behind by a crashed tab or another tool would otherwise keep the link slow);
* a **member** fault is a :class:`~harness.faults.member_commands.MemberFaultCommand` handed to
  ``command_members``: a run appends it to the control file the Locust master follows, the
  Chaos tab (which lives in the master) dispatches it directly. Lifting is the same command
  with ``on`` false.

Errors are Toxiproxy's own (:class:`~harness.toxiproxy.client.ToxiproxyError`, with the call's
deadline):
the run turns them into an ERROR, the tab into a message.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from harness.faults import FAULT_KINDS, MEMBER, Fault, FaultKind
from harness.faults.member_commands import MemberFaultCommand
from harness.toxiproxy.client import ToxiproxyApiError, ToxiproxyClient

__all__ = ["Nemesis", "NoMemberChannel", "NoToxiproxy", "toxic_name"]

#: Toxiproxy's answer when a toxic of that name is already on the proxy.
_CONFLICT = 409
_NOT_FOUND = 404


def toxic_name(kind: str, position: int = 0) -> str:
    """The name of the toxic of the ``position``-th fault of ``kind``: ``latency-0``, ..."""
    return f"{kind}-{position}"


class NoToxiproxy(Exception):
    """A proxy fault was asked for where there is no Toxiproxy to put it on."""


class NoMemberChannel(Exception):
    """A member fault was asked for where nothing carries commands to the members."""


class Nemesis:
    """Applies and lifts faults on slow members.

    Args:
        toxiproxy: The Toxiproxy holding the slow members' proxies; None where there is none
            (a proxy fault then raises :class:`NoToxiproxy`).
        command_members: Hands a member-fault command to the members; None where nothing does
            (a member fault then raises :class:`NoMemberChannel`).
    """

    def __init__(self, toxiproxy: ToxiproxyClient | None,
                 command_members: Callable[[MemberFaultCommand], None] | None) -> None:
        self.toxiproxy = toxiproxy
        self.command_members = command_members

    def apply(self, faults: Sequence[Fault], proxies: Sequence[str],
              members: tuple[int, ...] | None = None) -> None:
        """Switch ``faults`` on: toxics on each of ``proxies``, commands for the slow members
        ``members`` (indexes; None: all of them).

        Raises:
            ToxiproxyError: a Toxiproxy call failed or hung.
            NoToxiproxy, NoMemberChannel: nothing to apply the fault with.
        """
        positions: Counter[str] = Counter()
        for fault in faults:
            kind = FAULT_KINDS[fault.kind]
            position = positions[kind.name]
            positions[kind.name] += 1
            settings = fault.toxic()
            if kind.where == MEMBER:
                self._command(MemberFaultCommand(kind.name, True, members,
                                                 dict(settings.attributes), time.time()))
                continue
            client = self._client()
            name = toxic_name(kind.name, position)
            for proxy in proxies:
                try:
                    client.add_toxic(proxy, name, settings.type, settings.stream,
                                     attributes=dict(settings.attributes))
                except ToxiproxyApiError as exc:
                    if exc.status != _CONFLICT:
                        raise
                    client.update_toxic(proxy, name, dict(settings.attributes))

    def lift(self, kinds: Iterable[FaultKind], proxies: Sequence[str],
             members: tuple[int, ...] | None = None) -> None:
        """Switch every fault of ``kinds`` off on ``proxies`` and for ``members`` (None: all).

        Raises:
            ToxiproxyError: a Toxiproxy call failed or hung (a removal under traffic can hang
                Toxiproxy: the call's deadline turns that into this error).
            NoToxiproxy, NoMemberChannel: nothing to lift the fault with.
        """
        kinds = list(dict.fromkeys(kinds))
        for kind in kinds:
            if kind.where == MEMBER:
                self._command(MemberFaultCommand(kind.name, False, members, None, time.time()))
        toxic_types = {kind.toxic_type for kind in kinds if kind.where != MEMBER}
        if not toxic_types:
            return
        client = self._client()
        for proxy in proxies:
            for toxic in client.list_toxics(proxy):
                if toxic.get("type") not in toxic_types:
                    continue
                try:
                    client.remove_toxic(proxy, str(toxic["name"]))
                except ToxiproxyApiError as exc:
                    if exc.status != _NOT_FOUND:  # gone meanwhile: lifted all the same
                        raise

    def _client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise NoToxiproxy("no Toxiproxy to put a proxy fault on (give --toxiproxy-url)")
        return self.toxiproxy

    def _command(self, command: MemberFaultCommand) -> None:
        if self.command_members is None:
            raise NoMemberChannel(f"nothing carries the member fault {command.kind!r} to the "
                                  "members here")
        self.command_members(command)
