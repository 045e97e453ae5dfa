"""The slow members' Toxiproxy proxies, as the Chaos tab shows and steers them.

The browser never talks to Toxiproxy: Toxiproxy answers 403 to a ``Mozilla/`` user agent, and
its API can hang (upstream issues #159, #558). Every call goes through
:class:`~harness.toxiproxy.client.ToxiproxyClient`, whose deadline turns a hang into an error
message
in the tab instead of a frozen page.

Nothing here knows a fault kind by name, nor applies one itself: every registered kind
(:data:`harness.faults.FAULT_KINDS`) is set and cleared through the one nemesis
(:class:`harness.faults.nemesis.Nemesis`), with its naming and removal rule: a proxy fault set
from the UI is the toxic ``<kind>-0``, downstream (server to member), like a scenario's first
fault of that kind; setting it again updates it in place; clearing a kind removes every toxic of
the kind's type from the proxy, whoever added it. A member fault (a stall, a reconnect) is a
command to the chosen slow members (``command_members``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.faults import DOWNSTREAM, FAULT_KINDS, MEMBER, FaultKind, latency
from harness.faults.member_commands import MemberFaultCommand
from harness.faults.nemesis import Nemesis, NoMemberChannel, NoToxiproxy
from harness.net.urls import parse_target_url
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError

__all__ = ["ChaosError", "ChaosProxies", "SlowMember", "describe_toxic", "fault_kind"]


class ChaosError(Exception):
    """A control request failed; the message is one line for the page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SlowMember:
    """Slow member ``index`` and its own proxy, as last seen in Toxiproxy."""

    index: int
    proxy: str
    url: str  # what the member connects to
    listen: str = ""
    upstream: str = ""
    toxics: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "member": f"slow-{self.index}",
            "proxy": self.proxy,
            "url": self.url,
            "listen": self.listen,
            "upstream": self.upstream,
            "toxics": [dict(toxic, text=describe_toxic(toxic)) for toxic in self.toxics],
            "toxics_text": "; ".join(describe_toxic(toxic) for toxic in self.toxics) or "none",
        }


def describe_toxic(toxic: dict[str, Any]) -> str:
    """``latency 500 ms ± 50 ms downstream``, ``bandwidth 64 KB/s upstream``, ...

    A toxic of a registered kind reads as its kind describes it; any other lists its attributes.
    """
    kind = str(toxic.get("type", "?"))
    attributes = toxic.get("attributes") or {}
    stream = str(toxic.get("stream", ""))
    known = next((fault for fault in FAULT_KINDS.values() if fault.toxic_type == kind), None)
    if known is not None:
        text = known.text(attributes)
    else:
        text = kind + "".join(f" {key}={value}" for key, value in sorted(attributes.items()))
    toxicity = toxic.get("toxicity", 1)
    if isinstance(toxicity, int | float) and toxicity < 1:
        text += f" (toxicity {toxicity:g})"
    return f"{text} {stream}".strip()


def fault_kind(name: Any) -> FaultKind:
    """The registered fault kind ``name``.

    Raises:
        ChaosError: unknown kind.
    """
    kind = FAULT_KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ChaosError(f"unknown fault kind {name!r}; known: {', '.join(FAULT_KINDS)}")
    return kind


class ChaosProxies:
    """The slow members' proxies on one Toxiproxy.

    Args:
        client: Client of the Toxiproxy that holds the proxies; ``None`` when there is none (the
            tab then shows the members but cannot steer them).
        proxies: Proxy names, one per slow member, in member order.
        urls: The WebSocket URL each slow member connects to, in the same order.
        target_url: The server the proxies forward to.
        command_members: Hands a member-fault command to the members (the master's
            dispatch); None: member faults cannot be set here.
    """

    def __init__(self, client: ToxiproxyClient | None, proxies: list[str], urls: list[str],
                 target_url: str,
                 command_members: Callable[[MemberFaultCommand], None] | None = None) -> None:
        self.client = client
        self.nemesis = Nemesis(client, command_members)
        self.members = [SlowMember(index, proxy, url)
                        for index, (proxy, url) in enumerate(zip(proxies, urls, strict=False))]
        self.active = len(self.members)
        self.target_url = target_url
        self.error: str | None = None if client else "no Toxiproxy given (--toxiproxy-url)"
        self.created: list[str] = []
        first = proxies[0] if proxies else ""
        self.prefix = first.rpartition("slow-")[0] if "slow-" in first else "roomchaos-ui-"

    @property
    def url(self) -> str:
        """The Toxiproxy API URL, or ``""``."""
        return self.client.url if self.client else ""

    def active_members(self) -> list[SlowMember]:
        """The members the swarm uses (the start form's "slow members")."""
        return self.members[:self.active]

    # Reading.

    def refresh(self) -> None:
        """Read every proxy and its toxics in one call; a failure lands in :attr:`error`."""
        if self.client is None:
            return
        try:
            listing = self.client.list_proxies()
        except ToxiproxyError as exc:
            self.error = str(exc)
            return
        self.error = None
        for member in self.members:
            info = listing.get(member.proxy)
            if info is None:
                member.toxics, member.listen, member.upstream = [], "", "(proxy missing)"
                continue
            member.listen = str(info.get("listen", ""))
            member.upstream = str(info.get("upstream", ""))
            member.toxics = [toxic for toxic in info.get("toxics") or []
                             if isinstance(toxic, dict)]

    # Steering.

    def _require_client(self) -> ToxiproxyClient:
        if self.client is None:
            raise ChaosError("no Toxiproxy to steer (start Locust with --toxiproxy-url)", 409)
        return self.client

    def select(self, proxy: str | None) -> list[SlowMember]:
        """The active member with ``proxy``, or every active member for ``None``."""
        members = self.active_members()
        if proxy is None:
            if not members:
                raise ChaosError("there are no slow members", 409)
            return members
        chosen = [member for member in members if member.proxy == proxy]
        if not chosen:
            raise ChaosError(f"{proxy!r} is not the proxy of an active slow member", 404)
        return chosen

    def set_fault(self, kind_name: Any, values: Mapping[str, Any],
                  proxy: str | None = None) -> list[str]:
        """Put fault ``kind_name`` with param ``values`` on the slow member behind ``proxy``
        (every active slow member for ``None``), through the nemesis; the kind checks the
        values.

        Returns the proxies of the members changed.

        Raises:
            ChaosError: unknown kind, bad values, unknown proxy, or Toxiproxy failed (message
                says which).
        """
        kind = fault_kind(kind_name)
        if not isinstance(values, Mapping):
            raise ChaosError(f"params must be an object of {kind.name}'s values, got {values!r}")
        try:
            fault = kind.edit(values, DOWNSTREAM)
        except ValueError as exc:
            raise ChaosError(str(exc)) from None
        return self._change(kind, proxy, lambda proxies, members:
                            self.nemesis.apply([fault], proxies, members))

    def clear_fault(self, kind_name: Any, proxy: str | None = None) -> list[str]:
        """Lift fault kind ``kind_name`` from the slow member behind ``proxy`` (every active
        one for ``None``): every toxic of the kind's type goes, whoever added it.

        Returns the proxies of the members changed.

        Raises:
            ChaosError: unknown kind or proxy, or Toxiproxy failed or hung (message says which).
        """
        kind = fault_kind(kind_name)
        return self._change(kind, proxy, lambda proxies, members:
                            self.nemesis.lift([kind], proxies, members))

    def _change(self, kind: FaultKind, proxy: str | None,
                change: Callable[[list[str], tuple[int, ...] | None], None]) -> list[str]:
        """Apply ``change`` to the selected members (their proxies; their indexes, None for
        every slow member), then refresh the view. Returns the proxies changed.

        Raises:
            ChaosError: nothing to apply the kind with (409), or Toxiproxy failed or hung
                (502; members before the failure stay changed).
        """
        chosen = self.select(proxy)
        if kind.where != MEMBER and self.client is None:
            raise ChaosError("no Toxiproxy to steer (start Locust with --toxiproxy-url)", 409)
        members = None if proxy is None else tuple(member.index for member in chosen)
        try:
            change([member.proxy for member in chosen], members)
        except (NoToxiproxy, NoMemberChannel) as exc:
            raise ChaosError(str(exc), 409) from None
        except ToxiproxyError as exc:
            self.refresh()
            raise ChaosError(str(exc), 502) from None
        self.refresh()
        return [member.proxy for member in chosen]

    def set_latency(self, latency_ms: Any, jitter_ms: Any = 0,
                    proxy: str | None = None) -> list[str]:
        """:meth:`set_fault` for ``latency`` (the start form's field)."""
        return self.set_fault(latency.NAME, {"latency": latency_ms, "jitter": jitter_ms}, proxy)

    def clear_latency(self, proxy: str | None = None) -> list[str]:
        """:meth:`clear_fault` for ``latency`` (the start form's field)."""
        return self.clear_fault(latency.NAME, proxy)

    # Start-form parameters.

    def prepare(self, slow_members: int, target_url: str, room_url: str) -> tuple[str, list[str]]:
        """Make the proxies fit the start form; return the fast URL and the slow URLs to use.

        ``target_url`` different from the current target re-points every proxy of this run
        (the fast one at ``room_url`` too, or ``room_url`` itself when it is the target's) to
        it, keeping their listen addresses. More slow
        members than proxies creates the missing proxies.

        Raises:
            ChaosError: bad values, or Toxiproxy failed.
        """
        if slow_members < 0:
            raise ChaosError(f"slow members must be 0 or more, got {slow_members}")
        target_url = target_url.strip() or self.target_url
        if target_url != self.target_url or slow_members > len(self.members):
            client = self._require_client()
            upstream, path, scheme = _upstream(target_url)
            try:
                if target_url != self.target_url:
                    if room_url == self.target_url:
                        # Fast members that dial the target itself ([network] fast_members =
                        # "direct") follow it; no proxy of theirs to re-point.
                        self._repoint(client, upstream, scheme, path, room_port=None)
                        room_url = target_url
                    else:  # through their proxy: it is re-pointed, its port kept
                        room_port = urlsplit(room_url).port
                        self._repoint(client, upstream, scheme, path, room_port)
                        if room_port:
                            room_url = f"{scheme}://127.0.0.1:{room_port}{path}"
                    self.target_url = target_url
                while len(self.members) < slow_members:
                    index = len(self.members)
                    name = f"{self.prefix}slow-{index}"
                    info = client.create_proxy(name, upstream)
                    self.created.append(name)
                    self.members.append(SlowMember(
                        index, name, f"{scheme}://127.0.0.1:{info.listen_port}{path}"))
            except ToxiproxyError as exc:
                raise ChaosError(str(exc), 502) from None
        self.active = slow_members
        self.refresh()
        return room_url, [member.url for member in self.active_members()]

    def _repoint(self, client: ToxiproxyClient, upstream: str, scheme: str, path: str,
                 room_port: int | None) -> None:
        """Re-create this run's proxies towards ``upstream``: the slow members' and the fast
        members' one listening on ``room_port`` (None: the fast members have none).

        ``scheme`` is ``ws`` or ``wss`` (a TLS session passes through a proxy untouched).
        """
        listing = client.list_proxies()
        names = [member.proxy for member in self.members]
        names += [name for name, info in listing.items()
                  if room_port and str(info.get("listen", "")).endswith(f":{room_port}")]
        for name in dict.fromkeys(names):
            info = listing.get(name)
            if info is None:
                continue
            listen = str(info.get("listen", ""))
            client.destroy_proxy(name)
            client.create_proxy(name, upstream, listen=listen)
        for member in self.members:
            port = urlsplit(member.url).port
            member.url = f"{scheme}://127.0.0.1:{port}{path}"

    def destroy_created(self) -> None:
        """Remove the proxies this process created (best effort; errors are ignored)."""
        if self.client is None:
            return
        for name in self.created:
            try:
                self.client.destroy_proxy(name)
            except ToxiproxyError:
                pass
        self.created = []


def _upstream(target_url: str) -> tuple[str, str, str]:
    """``ws://127.0.0.1:9000/ws`` -> (``127.0.0.1:9000``, ``/ws``, ``ws``); loopback only."""
    try:
        checked = parse_target_url(target_url, "target URL")
    except ValueError as exc:
        raise ChaosError(str(exc)) from None
    host = f"[{checked.host}]" if ":" in checked.host else checked.host
    parts = urlsplit(checked.url)
    return f"{host}:{checked.port}", parts.path or "/ws", parts.scheme
