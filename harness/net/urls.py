"""The one validator of the URLs and hosts people give the harness.

``--target-url`` (and ``[target] url``), ``--toxiproxy-url``, the proxies' listen host and the
Locust master's bind host: ``run``, ``ui``, the orchestrator and the web UI's Chaos tab all call
these, so a URL is either accepted everywhere or refused everywhere with the same one-line
message (a :class:`ValueError` that names the flag and shows a URL that works).

Rules: the scheme is exactly the one expected (``ws`` or ``wss`` for a target: Toxiproxy relays
TCP, so a TLS session passes through a proxy untouched, see :mod:`harness.net.tls`; ``http`` for
Toxiproxy). The host is a loopback address (load and fault traffic stay on this machine) unless
the user named that very host with ``--allow-host``. The port is 1..65535 and, for ``ws`` and
``http``, written out: ``ws://127.0.0.1/ws`` would mean port 80 by the URL standard, but a room
server on loopback port 80 is almost always a typo, so it is refused. ``wss`` defaults to 443,
the port TLS services listen on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["LoopbackUrl", "check_host", "is_loopback", "parse_metrics_url", "parse_target_url",
           "parse_toxiproxy_url"]

TARGET_EXAMPLE = "ws://127.0.0.1:PORT/ws"
TOXIPROXY_EXAMPLE = "http://127.0.0.1:8474"
METRICS_EXAMPLE = "http://127.0.0.1:PORT/metrics"
DEFAULT_PORTS = {"wss": 443}


@dataclass(frozen=True)
class LoopbackUrl:
    """A checked URL: ``host`` loopback or allowed, ``port`` 1..65535, ``path`` at least ``/``."""

    url: str
    host: str
    port: int
    path: str


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_host(host: str, other: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(other)
    except ValueError:
        return host.lower() == other.lower()


def check_host(host: str, what: str, allowed_hosts: Collection[str] = (),
               shown: str | None = None) -> str:
    """Return ``host`` if it is loopback or named in ``allowed_hosts`` (``--allow-host``).

    ``shown`` is what the message quotes after ``what`` (the whole URL; default the host).

    Raises:
        ValueError: one line naming ``what`` and the flag that allows the host.
    """
    if is_loopback(host) or any(_same_host(host, allowed) for allowed in allowed_hosts):
        return host
    raise ValueError(f"{what} {shown or repr(host)} is not a loopback address; load and fault "
                     "traffic go only to this machine (127.0.0.1, localhost, ::1) unless you "
                     f"name the host with --allow-host {host}")


def _parse(url: str, what: str, schemes: tuple[str, ...], example: str, why_scheme: str,
           allowed_hosts: Collection[str] = ()) -> LoopbackUrl:
    if not url.strip():
        raise ValueError(f"{what} is empty; give a URL like {example}, or leave the flag out")
    parts = urlsplit(url.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{what} {url!r} must look like {example}{why_scheme}")
    check_host(parts.hostname, what, allowed_hosts, shown=repr(url))
    host_port = parts.netloc.rpartition("@")[2]
    port_text = host_port.rpartition("]")[2].rpartition(":")
    raw_port = port_text[2] if port_text[1] else ""
    if not raw_port and parts.scheme in DEFAULT_PORTS:
        raw_port = str(DEFAULT_PORTS[parts.scheme])
    if not raw_port:
        raise ValueError(f"{what} {url!r} has no port; write it out, e.g. {example} "
                         "(no default port: loopback port 80 is almost always a typo)")
    if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
        raise ValueError(f"{what} {url!r} has port {raw_port!r}; the port must be a number "
                         f"1..65535, e.g. {example}")
    return LoopbackUrl(url.strip(), parts.hostname, int(raw_port), parts.path or "/")


def parse_target_url(url: str, what: str = "--target-url",
                     allowed_hosts: Collection[str] = ()) -> LoopbackUrl:
    """Check a room server's WebSocket URL (``ws://127.0.0.1:PORT/ws``, ``wss://...``).

    Raises:
        ValueError: one line naming ``what``: empty, not ws or wss, a host that is neither
            loopback nor in ``allowed_hosts``, or a port that is missing (ws) or not 1..65535.
    """
    return _parse(url, what, ("ws", "wss"), TARGET_EXAMPLE,
                  " (ws, or wss for TLS: the session passes through the proxies untouched)",
                  allowed_hosts)


def parse_toxiproxy_url(url: str, what: str = "--toxiproxy-url",
                        allowed_hosts: Collection[str] = ()) -> LoopbackUrl:
    """Check a Toxiproxy API URL (``http://127.0.0.1:8474``, or a host in ``allowed_hosts``:
    the Toxiproxy next to a target on another machine); raises ValueError like above."""
    return _parse(url, what, ("http",), TOXIPROXY_EXAMPLE, "", allowed_hosts)


def parse_metrics_url(url: str, what: str = "[target] metrics_url") -> LoopbackUrl:
    """Check a Prometheus endpoint (``http://127.0.0.1:PORT/metrics``); raises ValueError."""
    return _parse(url, what, ("http",), METRICS_EXAMPLE, "")
