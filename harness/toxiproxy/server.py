"""Find and run a local ``toxiproxy-server`` 2.12.0 for one test or chaos run.

`ToxiproxyServer` starts the binary on 127.0.0.1 at a free port, waits until *its own* process
listens there and answers ``GET /version``, and stops it (and its process group) on exit.

Toxiproxy does not exit when its API port is taken: it logs ``address already in use`` and keeps
running. Readiness therefore requires that the listening socket belongs to our process, so a
foreign listener that grabbed the port between our pick and the bind is never mistaken for ours.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import psutil

from harness.errors import ComponentError
from harness.net.httpget import answers_200, wait_until
from harness.processes import ChildProcess, ProcessFailed
from harness.target import PROJECT_ROOT

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy version the harness is built and tested against."""

_VERSION_RE = re.compile(r"(?:^|[^0-9.])v?" + re.escape(TOXIPROXY_VERSION) + r"(?:[^0-9.]|$)")
_PORT_TAKEN_MARKER = "address already in use"
_HOST = "127.0.0.1"

INSTALL_HINT = (
    f"toxiproxy-server {TOXIPROXY_VERSION} not found in .tools/bin or on PATH; run `make install` "
    f"(or harness/install-toxiproxy.sh, which needs Go >= 1.23), "
    f"or put toxiproxy-server {TOXIPROXY_VERSION} on PATH"
)
"""One-line how-to-install message carried by `ToxiproxyNotFound`."""


class ToxiproxyServerError(ComponentError):
    """Base class for problems finding or running the Toxiproxy server binary."""


class ToxiproxyNotFound(ToxiproxyServerError):
    """No ``toxiproxy-server`` at the expected version is installed."""


class ToxiproxyStartError(ToxiproxyServerError):
    """The server binary could not be started, or did not become ready in time."""


def reports_expected_version(binary: Path) -> bool:
    """Return True if ``binary -version`` names exactly `TOXIPROXY_VERSION`.

    The server prints ``toxiproxy-server version 2.12.0`` (``version git`` when it was built
    without the version ldflags, which does not count). Any failure to run it returns False.
    """
    try:
        result = subprocess.run(
            [str(binary), "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and bool(_VERSION_RE.search(result.stdout + result.stderr))


def find_toxiproxy_server(project_root: Path) -> Path:
    """Locate a ``toxiproxy-server`` that reports version 2.12.0.

    Prefers ``<project_root>/.tools/bin/toxiproxy-server``, then the one on PATH.

    Raises:
        ToxiproxyNotFound: neither exists at the right version; the message says how to install.
    """
    candidates: list[Path] = [project_root / ".tools" / "bin" / "toxiproxy-server"]
    on_path = shutil.which("toxiproxy-server")
    if on_path is not None:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and reports_expected_version(candidate):
            return candidate
    raise ToxiproxyNotFound(INSTALL_HINT)


def _default_project_root() -> Path:
    return PROJECT_ROOT


def _pick_free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (the caller must handle races)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _listens_on(pid: int, port: int) -> bool:
    """Return True if process `pid` itself holds a listening TCP socket on `port`."""
    try:
        connections = psutil.Process(pid).net_connections(kind="inet")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(
        conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        for conn in connections
    )


class _PortTaken(Exception):
    """Internal: this attempt lost its port (or its process) and may be retried elsewhere."""


class ToxiproxyServer:
    """A ``toxiproxy-server`` child process on 127.0.0.1 at a free port.

    Use as a context manager (``with ToxiproxyServer(log_path) as server: server.url``) or call
    `start` / `stop`. The child runs in its own session and process group, with stdout and stderr
    appended to `log_path`, and ``LOG_LEVEL`` set to `log_level`. `stop` is idempotent and is also
    registered with `atexit` while the server runs.

    Args:
        log_path: file that receives the server's log (appended to; parent dirs are created).
        binary: server binary; default `find_toxiproxy_server` (`project_root`).
        project_root: where to look for ``.tools/bin``; default the repository root.
        log_level: ``LOG_LEVEL`` for the child (trace, debug, info, warn, error).
        startup_timeout: seconds one start attempt may take to answer ``GET /version``.
        retries: extra attempts on another port if the port was taken or the process died.
        stop_timeout: seconds to wait after SIGTERM before SIGKILL.
    """

    def __init__(
        self,
        log_path: Path,
        binary: Path | None = None,
        *,
        project_root: Path | None = None,
        log_level: str = "warn",
        startup_timeout: float = 10.0,
        retries: int = 3,
        stop_timeout: float = 3.0,
    ) -> None:
        self.log_path = Path(log_path)
        self._binary = binary
        self._project_root = project_root if project_root is not None else _default_project_root()
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.retries = retries
        self.stop_timeout = stop_timeout
        self._proc: ChildProcess | None = None
        self._port: int | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ToxiproxyServer:
        """Start the server and wait until it is ready; return self.

        Raises:
            ToxiproxyNotFound: no binary was given and none is installed.
            ToxiproxyStartError: every attempt failed, or the server did not answer in time.
        """
        with self._lock:
            if self._proc is not None:
                raise ToxiproxyStartError(
                    f"Toxiproxy server already started (pid {self._proc.pid})"
                )
            binary = self._binary
            if binary is None:
                binary = find_toxiproxy_server(self._project_root)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.touch()
            failures: list[str] = []
            for _ in range(self.retries + 1):
                port = _pick_free_port()
                log_start = self.log_path.stat().st_size
                proc = self._launch(binary, port)
                try:
                    self._wait_ready(proc, port, log_start)
                except _PortTaken as exc:
                    failures.append(f"port {port}: {exc}")
                    proc.stop(self.stop_timeout)
                    continue
                except BaseException:
                    proc.stop(self.stop_timeout)
                    raise
                self._proc, self._port = proc, port  # ChildProcess also stops it at exit
                return self
            raise ToxiproxyStartError(
                f"Toxiproxy server {binary} failed to start after {len(failures)} attempts "
                f"({'; '.join(failures)}); see {self.log_path}"
            )

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, then SIGKILL after `stop_timeout`.

        Safe to call more than once, and before `start`.
        """
        with self._lock:
            if self._proc is not None:
                self._proc.stop(self.stop_timeout)

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The API port; raises RuntimeError before `start`."""
        if self._port is None:
            raise RuntimeError("Toxiproxy server not started")
        return self._port

    @property
    def url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{_HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """Process id (also the process group id); raises RuntimeError before `start`."""
        if self._proc is None:
            raise RuntimeError("Toxiproxy server not started")
        return self._proc.pid

    def returncode(self) -> int | None:
        """Exit status once the process has ended (negative: killed by that signal), else None."""
        return None if self._proc is None else self._proc.returncode()

    def alive(self) -> bool:
        """True while the started process is running."""
        return self._proc is not None and self._proc.alive()

    # -- internals -----------------------------------------------------------------------------

    def _launch(self, binary: Path, port: int) -> ChildProcess:
        """Start the binary in its own session, logging to `log_path` (see ChildProcess)."""
        child = ChildProcess(
            "toxiproxy-server", [str(binary), "-host", _HOST, "-port", str(port)], self.log_path,
            env=dict(os.environ, LOG_LEVEL=self.log_level),
        )
        try:
            child.start()
        except ProcessFailed as exc:
            raise ToxiproxyStartError(f"cannot run Toxiproxy server {binary}: {exc}") from None
        return child

    def _wait_ready(self, proc: ChildProcess, port: int, log_start: int) -> None:
        """Return once `proc` listens on `port` and answers ``GET /version``.

        `log_start` is the log size before `proc` started; only newer output is scanned.

        Raises:
            _PortTaken: the port was taken by someone else, or the process exited.
            ToxiproxyStartError: not ready within `startup_timeout`.
        """
        url = f"http://{_HOST}:{port}/version"

        def still_alive() -> None:
            code = proc.returncode()
            if code is not None:
                raise _PortTaken(f"process exited with status {code}")
            if _PORT_TAKEN_MARKER in self._log_since(log_start):
                raise _PortTaken("address already in use")

        wait_until(lambda: _listens_on(proc.pid, port) and answers_200(url, timeout=0.5),
                   timeout=self.startup_timeout, still_alive=still_alive,
                   timed_out=lambda: ToxiproxyStartError(
                       f"Toxiproxy server (pid {proc.pid}) did not answer {url} within "
                       f"{self.startup_timeout} s; see {self.log_path}"))

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read(65536).decode("utf-8", "replace")
        except OSError:
            return ""
