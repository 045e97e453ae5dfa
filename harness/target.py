"""The system under test: the bundled servers described, a target's address, its probe.

Starting a target (a bundled server or the user's command) is :mod:`harness.rig.launched`'s.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import ComponentError
from harness.net.tls import TlsOptions

__all__ = ["DEFAULT_RESULTS_DIR", "PROJECT_ROOT", "BUNDLED_SERVERS", "MODES", "EXPECTED_VERDICTS",
           "BundledServer", "TargetInfo", "TargetUnreachable", "check_label", "http_base",
           "probe_target"]


@dataclass(frozen=True)
class BundledServer:
    """A reference server under ``targets/`` that the harness can start.

    Attributes:
        name: What ``[target] server`` calls it.
        module: Run as ``python -m module --port PORT``; it answers ``/healthz`` when ready.
        expected_verdicts: Its modes, in the order runs, matrices and reports list them,
            each with the verdict its slow-member scenario must give (the canary).
        protocol: The ``[protocol] kind`` it speaks.
        deliveries: What ``[target] delivery`` may say for it (``ack``, ``write``); empty:
            the server takes no such flag.
        path: Its WebSocket URL's path (and query) after ``ws://HOST:PORT``.
    """

    name: str
    module: str
    expected_verdicts: dict[str, str]
    protocol: str
    #: The values its ``--delivery`` flag takes; empty when it has none.
    deliveries: tuple[str, ...] = ()
    path: str = "/ws"

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.expected_verdicts)


#: Every bundled server by name; the first is the default.
BUNDLED_SERVERS: dict[str, BundledServer] = {
    server.name: server for server in (
        BundledServer("roomserver", "targets.roomserver",
                      {"naive": "FAIL", "spawn": "PASS", "fixed": "PASS"}, "roomchaos",
                      ("ack", "write")),
        BundledServer("socketio", "targets.socketio_room",
                      {"naive": "FAIL", "fixed": "PASS"}, "socketio",
                      path="/socket.io/?EIO=4&transport=websocket"),
    )
}

MODES: tuple[str, ...] = tuple(dict.fromkeys(
    mode for server in BUNDLED_SERVERS.values() for mode in server.modes))
"""Every bundled server's modes, in the order runs, matrices and reports list them
(``targets.roomserver.modes.MODES`` has the roomserver's; a test keeps the two in step)."""

EXPECTED_VERDICTS: dict[str, str] = BUNDLED_SERVERS["roomserver"].expected_verdicts
"""What the default server's slow-member canary must give in each mode: naive has the bug."""

#: How long the WebSocket handshake with a --target-url may take before the run gives up.
PROBE_TIMEOUT = 3.0

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout, or the site-packages folder of an installed harness (``pip install .``)."""

DEFAULT_RESULTS_DIR = Path("results")
"""Where run folders go: ``results/`` in the current directory (the checkout's, when run from
there), whether the harness runs from a checkout or is installed; never into site-packages.
Every run folder is made absolute before a child process (with its own working directory)
gets a path in it (:class:`harness.rig.rig.Rig`, :func:`harness.headless.one_run.run_scenario`)."""

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_label(label: str, what: str = "--label") -> str:
    """Return ``label`` if it can name runs (letters, digits, ``.``, ``_``, ``-``; at most 64;
    it goes into run folder names); else raise ValueError (one line).

    A label tells runs of one scenario apart in progress lines, ``result.json``,
    ``history.jsonl`` and ``trend``: two servers, or two modes of one server that the harness
    cannot name itself (a launched or external target's runs are otherwise all ``external``).
    """
    if not _LABEL.match(label):
        suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._")[:64] or "my-server"
        raise ValueError(f"{what} {label!r} may only contain letters, digits, '.', '_' and '-' "
                         f"(at most 64; it names run folders); try {suggestion!r}")
    return label


@dataclass(frozen=True)
class TargetInfo:
    """Where the target listens. ``host``/``port`` feed Toxiproxy upstreams."""

    url: str
    host: str
    port: int


def http_base(ws_url: str) -> str:
    """``ws://h:p/ws`` -> ``http://h:p`` (the reference server's HTTP endpoints)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class TargetUnreachable(ComponentError):
    """A target given by URL did not complete a WebSocket handshake; the message names it."""


def probe_target(url: str, timeout: float = PROBE_TIMEOUT, tls: TlsOptions | None = None,
                 target_url: str | None = None, origin: str | None = None,
                 via: str = "") -> None:
    """Open one WebSocket to ``url`` and close it again, all within ``timeout`` seconds.

    Called before Locust starts, so a target that is not there, or that refuses the members'
    handshake, is an ERROR naming the URL and the server's answer within seconds, not a run
    of failed joins judged as FAIL. The handshake is the members' own: ``url`` may be a
    proxy's (``via`` says which, for messages), ``target_url`` is the target's (its Host
    header, TLS name and default Origin), ``origin`` the Origin header they send (None: the
    target's own), and a ``wss://`` URL is verified as ``tls`` says.

    Raises:
        TargetUnreachable: refused, timed out, or the server did not answer the handshake
            with 101 (e.g. a plain HTTP server, a wrong path, or a same-origin check that
            answers 403).
    """
    import websocket  # websocket-client; does not monkey-patch anything

    target = target_url or url
    where = f"target {target}" + (f" (through {via}, as the members connect)" if via else "")
    options = (tls or TlsOptions()).connect_options(url, target_url, origin)
    try:
        connection = websocket.create_connection(url, timeout=timeout, **options)
    except websocket.WebSocketBadStatusException as exc:
        answer = " ".join(str(part) for part in (exc.status_code, exc.status_message) if part)
        body = " ".join((exc.resp_body or b"").decode("utf-8", "replace").split())[:160]
        raise TargetUnreachable(
            f"{where} refused the WebSocket handshake (HTTP {answer}"
            + (f": {body}" if body else "") + f") at the probe, with Origin: "
            f"{options['origin']}; "
            + ("check [target] origin or --origin (default: the target's own origin), "
               if exc.status_code == 403 else "")
            + "check the path, and the scenario's [protocol] (docs/protocols.md)") from None
    except ssl.SSLError as exc:
        raise TargetUnreachable(
            f"{where}: TLS failed: {' '.join(str(exc).split())}; give the CA that signed "
            "its certificate with --ca-file, or skip verification with --insecure") from None
    except (OSError, websocket.WebSocketException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TargetUnreachable(
            f"{where} is unreachable: {' '.join((reason or type(exc).__name__).split())}"
            f" (no WebSocket handshake within {timeout:g} s); start it, or fix --target-url"
        ) from None
    try:
        connection.close(timeout=1)
    except (OSError, websocket.WebSocketException):
        pass
