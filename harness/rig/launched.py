"""A target the harness launches, on a free loopback port: the user's command or a bundled server.

Both go the same way (:class:`LaunchedTarget`): a bundled server (:class:`ReferenceTarget`)
is only a plan built here, its module's command with ``--port {port}`` and ``/healthz`` as
its readiness URL.

``--target-cmd "python -m myserver --port {port}"`` (or ``[target] cmd`` in the scenario) is
split with :func:`shlex.split` (no shell), ``{port}`` is replaced by a port free on 127.0.0.1,
and the command runs as a :class:`~harness.processes.ChildProcess`: its own session, its
stdout and stderr in ``target.log`` of the run folder, stopped with SIGTERM to its process
group and SIGKILL after a grace period on every way out. The harness waits until the port
accepts TCP connections, or until a readiness URL (``--target-ready``, may hold ``{port}``)
answers 200, within the ready timeout; a command whose port never opens is a
:class:`~harness.processes.ProcessFailed` naming the command and the last lines of its log.
A command that exits logging ``address already in use`` (the picked port was taken before it
bound it) is started again on another port.

The target's WebSocket URL is a template too (``--target-url``, default
``ws://127.0.0.1:{port}/ws``); so are ``--lock-reports`` URLs.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.net.httpget import answers_200, wait_until
from harness.net.tls import TlsOptions
from harness.net.urls import check_host, parse_target_url
from harness.processes import ChildProcess, ProcessFailed
from harness.rig.locust_process import free_port
from harness.runfolder import RunFolder
from harness.target import BUNDLED_SERVERS, PROJECT_ROOT, TargetInfo

__all__ = ["DEFAULT_READY_TIMEOUT", "DEFAULT_URL_TEMPLATE", "PORT", "LaunchPlan",
           "LaunchedTarget", "ReferenceTarget", "fill_port", "parse_command"]

PORT = "{port}"
DEFAULT_URL_TEMPLATE = "ws://127.0.0.1:{port}/ws"
#: Seconds a launched target has to open its port (or answer its readiness URL).
DEFAULT_READY_TIMEOUT = 20.0
#: A command this long is not a command line someone wrote.
MAX_COMMAND_CHARS = 8192
#: How many of the log's last lines a failure message quotes.
LOG_LINES = 5
#: How many ports a command that finds its port taken is started on, at most.
PORT_ATTEMPTS = 3
#: What a server's log says (lower-cased) when its port was taken between pick and bind.
_PORT_TAKEN = "address already in use"
FLAG_NAMES = {"cmd": "--target-cmd", "url": "--target-url", "ready": "--target-ready",
              "ready_timeout": "--target-ready-timeout"}


def fill_port(template: str, port: int) -> str:
    """``template`` with every ``{port}`` replaced (other braces are left alone)."""
    return template.replace(PORT, str(port))


def parse_command(text: str, what: str = "--target-cmd") -> list[str]:
    """Split a server command with shlex (no shell); it must contain ``{port}``.

    Raises:
        ValueError: one line: empty, too long, unbalanced quotes, or no ``{port}``.
    """
    if not text.strip():
        raise ValueError(f"{what} is empty; give your server's command with {PORT} where its "
                         'port goes, e.g. "python -m myserver --port {port}"')
    if len(text) > MAX_COMMAND_CHARS:
        raise ValueError(f"{what} is {len(text)} characters, more than {MAX_COMMAND_CHARS}; "
                         "put the command in a script and give the script")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} cannot be split like a shell line ({exc}); "
                         "check its quotes") from None
    if not any(PORT in part for part in argv):
        raise ValueError(f"{what} {text!r} has no {PORT}; the harness picks a free port and "
                         f"puts it where {PORT} is, e.g. \"python -m myserver --port {PORT}\"")
    return argv


@dataclass(frozen=True)
class LaunchPlan:
    """A checked launch: the command, the URL templates, the readiness rule.

    Attributes:
        command: The command line as the user wrote it (for messages).
        url: The target's WebSocket URL with ``{port}``.
        ready_url: An HTTP(S) URL (may hold ``{port}``) that must answer 200 before the run
            starts; None: the port accepting a TCP connection is enough.
        ready_timeout_s: How long to wait for readiness.
        cwd: The folder the command runs in: where it was given (the user's current
            directory), wherever the harness runs it from; None: the harness's own.
    """

    command: str
    url: str = DEFAULT_URL_TEMPLATE
    ready_url: str | None = None
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT
    cwd: str | None = None

    @staticmethod
    def checked(command: str, url: str | None, ready_url: str | None,
                ready_timeout_s: float | None, allowed_hosts: tuple[str, ...] = (),
                names: Mapping[str, str] | None = None) -> LaunchPlan:
        """Check every part; ``names`` says what messages call each (``cmd``, ``url``,
        ``ready``, ``ready_timeout``; default: the flags).

        Raises:
            ValueError: one line naming the flag or key and the fix.
        """
        names = {**FLAG_NAMES, **(names or {})}
        parse_command(command, names["cmd"])
        url = url or DEFAULT_URL_TEMPLATE
        if PORT not in url:
            raise ValueError(f"{names['url']} {url!r} has no {PORT}; with a target command the "
                             f"port is picked for you, e.g. {DEFAULT_URL_TEMPLATE}")
        if parse_target_url(fill_port(url, 1), names["url"], allowed_hosts).port != 1:
            raise ValueError(f"{names['url']} {url!r} must have {PORT} as its port, e.g. "
                             f"{DEFAULT_URL_TEMPLATE}")
        if ready_url is not None:
            ready_parts = urlsplit(fill_port(ready_url, 1))
            if ready_parts.scheme not in ("http", "https") or not ready_parts.hostname:
                raise ValueError(f"{names['ready']} {ready_url!r} must be an http:// or "
                                 "https:// URL that answers 200 when the server is ready, "
                                 f"e.g. http://127.0.0.1:{PORT}/healthz")
            check_host(ready_parts.hostname, names["ready"], allowed_hosts, repr(ready_url))
        timeout = DEFAULT_READY_TIMEOUT if ready_timeout_s is None else ready_timeout_s
        if not 0 < timeout <= 600:
            raise ValueError(f"{names['ready_timeout']} is {timeout:g} s; give 0 < seconds <= 600, "
                             f"e.g. {DEFAULT_READY_TIMEOUT:g}")
        return LaunchPlan(command, url, ready_url, timeout, os.getcwd())


class LaunchedTarget:
    """A server the harness runs: the user's command or a bundled one, from a :class:`LaunchPlan`.

    The one start, stop and death path for every target the harness starts: its
    :class:`~harness.processes.ChildProcess` (own process group, output in ``target.log`` of
    ``run_dir``), readiness polled with :func:`harness.net.httpget.wait_until`, and a death
    before readiness named with the last lines of its log. The rig checks :attr:`process`
    during the run, so a death mid-run is an ERROR naming it.

    Attributes:
        port: The port given to the command (free on 127.0.0.1 when picked).
        host: The URL's host, where readiness is checked.
        url: The target's WebSocket URL, ``{port}`` filled in.
        process: The child; ``target.log`` in the run folder holds its output.
        info: Where it listens, once started.
    """

    def __init__(self, plan: LaunchPlan, run_dir: Path, tls: TlsOptions | None = None,
                 name: str | None = None) -> None:
        """``name``: what messages call it (default: ``target `COMMAND```)."""
        self.plan = plan
        self.run_dir = run_dir
        self.name = name or f"target `{plan.command}`"
        self.tls = tls or TlsOptions()
        self.info: TargetInfo | None = None
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        """Fill ``port`` into the plan's templates; a new (not yet started) child."""
        self.port = port
        self.url = fill_port(self.plan.url, port)
        self.host = urlsplit(self.url).hostname or "127.0.0.1"
        self.argv = [fill_port(part, port) for part in parse_command(self.plan.command)]
        self.process = ChildProcess(self.name, self.argv, RunFolder(self.run_dir).target_log,
                                    cwd=None if self.plan.cwd is None else Path(self.plan.cwd))

    @property
    def pid(self) -> int | None:
        """The command's process id (the leader of its group); None before it started."""
        return self.process.pid if self.process.popen is not None else None

    def start(self) -> TargetInfo:
        """Start the command and wait until it is ready; return where it listens.

        A command that dies saying its port is taken (another process bound the picked port
        first) is started again on another port, up to :data:`PORT_ATTEMPTS` times.

        Raises:
            ProcessFailed: it could not start, exited first, or was not ready within the
                timeout (it is stopped then); the message names the command and ends with
                the last lines of its log.
        """
        for attempt in range(1, PORT_ATTEMPTS + 1):
            log_start = _size(self.process.log_path)
            try:
                self._start_once()
            except ProcessFailed:
                if attempt == PORT_ATTEMPTS or not self._lost_its_port(log_start):
                    raise
                self._use_port(free_port())
                continue
            break
        parts = urlsplit(self.url)
        self.info = TargetInfo(self.url, self.host, parts.port or self.port)
        return self.info

    def _start_once(self) -> None:
        what = (f"answer 200 at {fill_port(self.plan.ready_url, self.port)}" if self.plan.ready_url
                else f"accept connections on port {self.port}")

        def still_alive() -> None:
            if not self.process.alive():
                raise ProcessFailed(f"{self.process.death_message(LOG_LINES)} before it "
                                    f"was ready (it should {what})")

        def timed_out() -> ProcessFailed:
            self.process.stop(grace=2.0)
            tail = self.process.log_tail(LOG_LINES)
            return ProcessFailed(
                f"{self.process.name} did not {what} within "
                f"{self.plan.ready_timeout_s:g} s; it was stopped "
                + (f"(last log lines: {tail})" if tail else "(its log is empty)"))

        self.process.start()
        wait_until(self.ready, timeout=self.plan.ready_timeout_s, timed_out=timed_out,
                   still_alive=still_alive)

    def _lost_its_port(self, log_start: int) -> bool:
        """Whether the child that just died logged that its port was taken."""
        if self.process.alive():
            return False
        try:
            with self.process.log_path.open("rb") as log:
                log.seek(log_start)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return False
        return _PORT_TAKEN in text.lower()

    def ready(self) -> bool:
        """One readiness check: the URL answers 200, or the target's port accepts TCP.

        A URL that refuses, times out or answers something other than HTTP is "not yet".
        """
        if self.plan.ready_url is not None:
            url = fill_port(self.plan.ready_url, self.port)
            context = self.tls.ssl_context() if url.startswith("https://") else None
            return answers_200(url, timeout=1.0, context=context)
        try:
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def stop(self) -> int | None:
        """SIGTERM to its process group, SIGKILL after the grace period; idempotent."""
        return self.process.stop()

    def __enter__(self) -> TargetInfo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class ReferenceTarget(LaunchedTarget):
    """A bundled server (``python -m targets.roomserver`` by default), launched like any command.

    Its plan is built here: the server's module with ``--port {port}``, its WebSocket URL
    (:attr:`~harness.target.BundledServer.path`) and ``/healthz`` as the readiness URL.

    Args:
        mode: One of the server's modes (``naive``, ``spawn`` or ``fixed`` for roomserver).
        run_dir: Where its log and lock-report file go.
        lock_wait_threshold / lock_hold_threshold / lock_suspend_threshold / send_timeout /
            outbox_size / delivery: Passed on as the server's flags; None leaves the server's own
            default (``python -m targets.roomserver --help``), the one source of each.
        startup_timeout: Seconds it has to answer ``/healthz``.
        server: Which of :data:`~harness.target.BUNDLED_SERVERS`.
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
        server: str = "roomserver",
    ) -> None:
        self.mode = mode
        self.server = BUNDLED_SERVERS[server]
        #: The ``--delivery`` it was started with; None: the server's own default (``ack``).
        self.delivery = delivery
        self.lock_report_file = RunFolder(run_dir).target_locks
        argv = [
            sys.executable, "-m", self.server.module,
            "--mode", mode, "--host", "127.0.0.1", "--port", PORT,
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
        plan = LaunchPlan(shlex.join(argv), url=f"ws://127.0.0.1:{PORT}{self.server.path}",
                          ready_url=f"http://127.0.0.1:{PORT}/healthz",
                          ready_timeout_s=startup_timeout, cwd=str(PROJECT_ROOT))
        super().__init__(plan, run_dir, name="target")
