"""The one validator of the URLs people give the harness: ``--target-url`` and ``--toxiproxy-url``.

``run``, ``ui``, the orchestrator and the web UI's Chaos tab all call these, so a URL is either
accepted everywhere or refused everywhere with the same one-line message (a :class:`ValueError`
that names the flag and shows a URL that works).

Rules: the scheme is exactly the one expected (plain ``ws`` for a target: Toxiproxy relays TCP,
so a wss server needs its own TLS-terminating front on loopback; ``http`` for Toxiproxy); the
host is a loopback address (load and fault traffic stay on this machine); the port is written
out and is 1..65535. There is no default port: ``ws://127.0.0.1/ws`` would mean port 80 by the
URL standard, but a room server on loopback port 80 is almost always a typo, so it is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["LoopbackUrl", "is_loopback", "parse_metrics_url", "parse_target_url",
           "parse_toxiproxy_url"]

TARGET_EXAMPLE = "ws://127.0.0.1:PORT/ws"
TOXIPROXY_EXAMPLE = "http://127.0.0.1:8474"
METRICS_EXAMPLE = "http://127.0.0.1:PORT/metrics"


@dataclass(frozen=True)
class LoopbackUrl:
    """A checked URL: ``host`` is loopback, ``port`` is 1..65535, ``path`` at least ``/``."""

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


def _parse(url: str, what: str, scheme: str, example: str, why_scheme: str) -> LoopbackUrl:
    if not url.strip():
        raise ValueError(f"{what} is empty; give a URL like {example}, or leave the flag out")
    parts = urlsplit(url.strip())
    if parts.scheme != scheme or not parts.hostname:
        raise ValueError(f"{what} {url!r} must look like {example}{why_scheme}")
    if not is_loopback(parts.hostname):
        raise ValueError(f"{what} {url!r} is not a loopback address; load and fault traffic go "
                         "only to this machine (127.0.0.1, localhost, ::1)")
    host_port = parts.netloc.rpartition("@")[2]
    port_text = host_port.rpartition("]")[2].rpartition(":")
    raw_port = port_text[2] if port_text[1] else ""
    if not raw_port:
        raise ValueError(f"{what} {url!r} has no port; write it out, e.g. {example} "
                         "(no default port: loopback port 80 is almost always a typo)")
    if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
        raise ValueError(f"{what} {url!r} has port {raw_port!r}; the port must be a number "
                         f"1..65535, e.g. {example}")
    return LoopbackUrl(url.strip(), parts.hostname, int(raw_port), parts.path or "/")


def parse_target_url(url: str, what: str = "--target-url") -> LoopbackUrl:
    """Check a room server's WebSocket URL (``ws://127.0.0.1:PORT/ws``).

    Raises:
        ValueError: one line naming ``what``: empty, not plain ws, not loopback, or a port
            that is missing or not 1..65535.
    """
    return _parse(url, what, "ws", TARGET_EXAMPLE,
                  " (plain ws: Toxiproxy relays TCP, so a wss server needs its own "
                  "TLS-terminating front on loopback)")


def parse_toxiproxy_url(url: str, what: str = "--toxiproxy-url") -> LoopbackUrl:
    """Check a Toxiproxy API URL (``http://127.0.0.1:8474``); raises ValueError like above."""
    return _parse(url, what, "http", TOXIPROXY_EXAMPLE, "")


def parse_metrics_url(url: str, what: str = "[target] metrics_url") -> LoopbackUrl:
    """Check a Prometheus endpoint (``http://127.0.0.1:PORT/metrics``); raises ValueError."""
    return _parse(url, what, "http", METRICS_EXAMPLE, "")
