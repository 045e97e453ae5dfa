"""What a client says in its handshake when it dials a target through a proxy: TLS, Host, Origin.

Toxiproxy relays TCP, so a TLS session passes through a proxy untouched; only the client has
to know that the address it dials (the proxy, ``127.0.0.1:PROXY_PORT``) is not the name the
server's certificate carries. :class:`TlsOptions` gives websocket-client what it needs for
that: the target's hostname for SNI and certificate verification (``sslopt``
``server_hostname``), the Host header the server expects, and the CA file (``--ca-file``) or
no verification at all (``--insecure``).

The same goes for the ``Origin`` header: websocket-client derives it from the address it
dials, so a member behind a proxy would send ``Origin: http://127.0.0.1:PROXY_PORT`` with
``Host: TARGET_HOST:TARGET_PORT``, and a server with a same-origin check (gorilla/websocket's
default compares the two) refuses it with 403. :func:`target_origin` is the target's own
origin, which every connection sends unless the user names another (``[target] origin``,
``--origin``).

It is used by the probes of a target given by URL or command and by every Locust member.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TlsOptions", "check_ca_file", "check_origin", "target_origin"]


def check_ca_file(path: str, what: str = "--ca-file") -> str:
    """Return ``path``, made absolute, if it is a readable PEM file; else raise ValueError
    (one line)."""
    if not path.strip():
        raise ValueError(f"{what} is empty; give a PEM file of the CA that signed the "
                         "target's certificate, or leave the flag out")
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"{what} {path!r} is not a readable PEM CA file ({reason}); give the "
                         "CA certificate that signed the target's certificate") from None
    return str(Path(path).absolute())  # Locust runs in another working directory


def target_origin(url: str) -> str:
    """The origin of the target at ``url`` (scheme, host and port as the user wrote them):
    ``ws://h:p/ws`` -> ``http://h:p``, ``wss://h/ws`` -> ``https://h``."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def check_origin(origin: str, what: str = "--origin") -> str:
    """Return ``origin`` if it is ``http(s)://HOST[:PORT]`` and nothing more; else raise
    ValueError (one line): it goes into every handshake as a header."""
    example = "e.g. https://chat.example.com or http://127.0.0.1:8080"
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} {origin!r} is not an origin ({exc}); {example}") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path
            or parts.query or parts.fragment or parts.username or any(
                char.isspace() or not char.isprintable() for char in origin)):
        raise ValueError(f"{what} {origin!r} is not an origin: give scheme://host[:port] "
                         f"with no path, what the server's same-origin check expects; "
                         f"{example}")
    del port  # checked by parsing it
    return origin


@dataclass(frozen=True)
class TlsOptions:
    """How members and probes verify a ``wss://`` target.

    Attributes:
        ca_file: PEM file of CAs to trust instead of the system's (``--ca-file``).
        insecure: Skip verification entirely (``--insecure``); the session is still TLS.
    """

    ca_file: str | None = None
    insecure: bool = False

    def connect_options(self, url: str, target_url: str | None = None,
                        origin: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``websocket.create_connection(url, ...)``.

        ``url`` is the address dialled (a proxy's, or the target's own); ``target_url`` the
        target's URL, whose host is the TLS server name and, with its port, the Host
        header; ``origin`` the Origin header (default: :func:`target_origin` of the target,
        whatever proxy is dialled).
        """
        dialled = urlsplit(url)
        target = urlsplit(target_url or url)
        options: dict[str, Any] = {"origin": origin or target_origin(target_url or url)}
        if target.netloc and target.netloc != dialled.netloc:
            options["host"] = target.netloc  # the Host header the server expects
        if dialled.scheme != "wss":
            return options
        sslopt: dict[str, Any] = {"server_hostname": target.hostname}
        if self.insecure:
            sslopt.update(cert_reqs=ssl.CERT_NONE, check_hostname=False)
        elif self.ca_file:
            sslopt["ca_certs"] = self.ca_file
        options["sslopt"] = sslopt
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """A client context for HTTPS calls to the target (its readiness URL)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def arguments(self) -> list[str]:
        """The same options as Locust arguments (see :mod:`harness.loadgen.options`)."""
        return [*(["--ca-file", self.ca_file] if self.ca_file else []),
                *(["--insecure"] if self.insecure else [])]
