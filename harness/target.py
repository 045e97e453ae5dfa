"""The system under test: the bundled reference server, or any server's URL."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ComponentError
from .processes import ChildProcess, ProcessFailed
from .tls import TlsOptions

__all__ = ["DEFAULT_RESULTS_DIR", "PROJECT_ROOT", "MODES", "EXPECTED_VERDICTS", "ReferenceTarget",
           "TargetInfo", "TargetUnreachable", "fetch_json", "http_base", "probe_target"]

MODES: tuple[str, ...] = ("naive", "spawn", "fixed")
"""The bundled reference server's modes, in the order runs, matrices and reports list them
(``targets.roomserver.modes.MODES`` has the same names; a test keeps the two in step)."""

EXPECTED_VERDICTS: dict[str, str] = {"naive": "FAIL", "spawn": "PASS", "fixed": "PASS"}
"""What the slow-member canary must give in each mode: naive has the bug."""

#: How long the WebSocket handshake with a --target-url may take before the run gives up.
PROBE_TIMEOUT = 3.0

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout, or the site-packages folder of an installed harness (``pip install .``)."""

DEFAULT_RESULTS_DIR = (PROJECT_ROOT / "results" if (PROJECT_ROOT / "pyproject.toml").is_file()
                       else Path("results"))
"""Where run folders go: ``results/`` in the checkout; an installed harness writes to
``results/`` in the current directory, never into site-packages."""

_LISTENING = r"listening on ws://(?P<host>[^:/]+):(?P<port>\d+)/ws"


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


def fetch_json(url: str, timeout: float = 2.0) -> Any:
    """GET ``url`` and decode JSON; raises ``OSError`` or ``ValueError``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class TargetUnreachable(ComponentError):
    """A target given by URL did not complete a WebSocket handshake; the message names it."""


def probe_target(url: str, timeout: float = PROBE_TIMEOUT, tls: TlsOptions | None = None) -> None:
    """Open one WebSocket to ``url`` and close it again, all within ``timeout`` seconds.

    A ``wss://`` URL is verified as ``tls`` says (``--ca-file``, ``--insecure``).

    Called before Locust starts, so a target that is not there is an ERROR naming the URL
    within seconds, not a run of failed joins judged as FAIL.

    Raises:
        TargetUnreachable: refused, timed out, or the server did not answer the handshake
            with 101 (e.g. a plain HTTP server, or a wrong path).
    """
    import websocket  # websocket-client; does not monkey-patch anything

    try:
        connection = websocket.create_connection(
            url, timeout=timeout, **(tls or TlsOptions()).connect_options(url))
    except websocket.WebSocketBadStatusException as exc:
        raise TargetUnreachable(
            f"target {url} refused the WebSocket handshake (HTTP {exc.status_code}); "
            "check the path and that it speaks docs/protocol.md") from None
    except ssl.SSLError as exc:
        raise TargetUnreachable(
            f"target {url}: TLS failed: {' '.join(str(exc).split())}; give the CA that signed "
            "its certificate with --ca-file, or skip verification with --insecure") from None
    except (OSError, websocket.WebSocketException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TargetUnreachable(
            f"target {url} is unreachable: {' '.join((reason or type(exc).__name__).split())}"
            f" (no WebSocket handshake within {timeout:g} s); start it, or fix --target-url"
        ) from None
    try:
        connection.close(timeout=1)
    except (OSError, websocket.WebSocketException):
        pass


class ReferenceTarget:
    """Run ``python -m targets.roomserver`` on a free loopback port.

    Args:
        mode: ``naive``, ``spawn`` or ``fixed``.
        run_dir: Where its log and lock-report file go.
        lock_wait_threshold / lock_hold_threshold / lock_suspend_threshold / send_timeout /
            outbox_size / delivery: Passed on as the server's flags; None leaves the server's own
            default (``python -m targets.roomserver --help``), the one source of each.
    """
    def __init__(
        self,
        mode: str,
        run_dir: Path,
        *,
        lock_wait_threshold: float | None = None,
        lock_hold_threshold: float | None = None,
        lock_suspend_threshold: float | None = None,
        send_timeout: float | None = None,
        outbox_size: int | None = None,
        delivery: str | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.mode = mode
        self.lock_report_file = run_dir / "target-locks.jsonl"
        argv = [
            sys.executable, "-m", "targets.roomserver",
            "--mode", mode, "--host", "127.0.0.1", "--port", "0",
            "--lock-report-file", str(self.lock_report_file),
        ]
        flags: dict[str, float | int | str | None] = {
            "--lock-wait-threshold": lock_wait_threshold,
            "--lock-hold-threshold": lock_hold_threshold,
            "--lock-suspend-threshold": lock_suspend_threshold,
            "--send-timeout": send_timeout,
            "--outbox-size": outbox_size,
            "--delivery": delivery,
        }
        argv += [part for flag, value in flags.items() if value is not None
                 for part in (flag, str(value))]
        self.process = ChildProcess("target", argv, run_dir / "target.log", cwd=PROJECT_ROOT)
        self.startup_timeout = startup_timeout
        self.info: TargetInfo | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id once started (what the RSS and thread samples read)."""
        return self.process.pid if self.process.popen is not None else None

    def start(self) -> TargetInfo:
        self.process.start()
        match = self.process.wait_for_line(_LISTENING, self.startup_timeout)
        host, port = match["host"], int(match["port"])
        self.info = TargetInfo(f"ws://{host}:{port}/ws", host, port)
        try:
            urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5).close()
        except (OSError, urllib.error.URLError) as exc:
            self.process.stop()
            raise ProcessFailed(f"target started but /healthz failed: {exc}") from None
        return self.info

    def stop(self) -> int | None:
        return self.process.stop()

    def __enter__(self) -> TargetInfo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
