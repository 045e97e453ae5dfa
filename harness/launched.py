"""A target the harness launches: the user's server command, on a free loopback port.

``--target-cmd "python -m myserver --port {port}"`` (or ``[target] cmd`` in the scenario) is
split with :func:`shlex.split` (no shell), ``{port}`` is replaced by a port free on 127.0.0.1,
and the command runs as a :class:`~harness.processes.ChildProcess`: its own session, its
stdout and stderr in ``target.log`` of the run folder, stopped with SIGTERM to its process
group and SIGKILL after a grace period on every way out. The harness waits until the port
accepts TCP connections, or until a readiness URL (``--target-ready``, may hold ``{port}``)
answers 200, within the ready timeout; a command whose port never opens is a
:class:`~harness.processes.ProcessFailed` naming the command and the last lines of its log.

The target's WebSocket URL is a template too (``--target-url``, default
``ws://127.0.0.1:{port}/ws``); so are ``--lock-reports`` URLs.
"""

from __future__ import annotations

import http.client
import os
import shlex
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .locust_process import free_port
from .processes import ChildProcess, ProcessFailed
from .runfolder import RunFolder
from .tls import TlsOptions
from .urls import check_host, parse_target_url

__all__ = ["DEFAULT_READY_TIMEOUT", "DEFAULT_URL_TEMPLATE", "PORT", "LaunchPlan",
           "LaunchedTarget", "fill_port", "parse_command"]

PORT = "{port}"
DEFAULT_URL_TEMPLATE = "ws://127.0.0.1:{port}/ws"
#: Seconds a launched target has to open its port (or answer its readiness URL).
DEFAULT_READY_TIMEOUT = 20.0
#: A command this long is not a command line someone wrote.
MAX_COMMAND_CHARS = 8192
#: How many of the log's last lines a failure message quotes.
LOG_LINES = 5
_POLL = 0.05
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
    """The user's server, started from a :class:`LaunchPlan` into ``run_dir``.

    Attributes:
        port: The port given to the command (free on 127.0.0.1 when picked).
        host: The URL's host, where readiness is checked.
        url: The target's WebSocket URL, ``{port}`` filled in.
        process: The child; ``target.log`` in the run folder holds its output.
    """

    def __init__(self, plan: LaunchPlan, run_dir: Path, tls: TlsOptions | None = None) -> None:
        self.plan = plan
        self.port = free_port()
        self.url = fill_port(plan.url, self.port)
        self.host = urlsplit(self.url).hostname or "127.0.0.1"
        self.argv = [fill_port(part, self.port) for part in parse_command(plan.command)]
        self.tls = tls or TlsOptions()
        self.process = ChildProcess(f"target `{plan.command}`", self.argv,
                                    RunFolder(run_dir).target_log,
                                    cwd=None if plan.cwd is None else Path(plan.cwd))

    @property
    def pid(self) -> int:
        """The launched command's process id (the leader of its process group)."""
        return self.process.pid

    def start(self) -> str:
        """Start the command and wait until it is ready; return the target's URL.

        Raises:
            ProcessFailed: it could not start, exited first, or was not ready within the
                timeout (it is stopped then); the message names the command and ends with
                the last lines of its log.
        """
        self.process.start()
        deadline = time.monotonic() + self.plan.ready_timeout_s
        what = (f"answer 200 at {fill_port(self.plan.ready_url, self.port)}" if self.plan.ready_url
                else f"accept connections on port {self.port}")
        while not self.ready():
            if not self.process.alive():
                raise ProcessFailed(f"{self.process.death_message(LOG_LINES)} before it "
                                    f"was ready (it should {what})")
            if time.monotonic() > deadline:
                self.process.stop(grace=2.0)
                tail = self.process.log_tail(LOG_LINES)
                raise ProcessFailed(
                    f"{self.process.name} did not {what} within "
                    f"{self.plan.ready_timeout_s:g} s; it was stopped "
                    + (f"(last log lines: {tail})" if tail else "(its log is empty)"))
            time.sleep(_POLL)
        return self.url

    def ready(self) -> bool:
        """One readiness check: the URL answers 200, or the target's port accepts TCP.

        A URL that refuses, times out or answers something other than HTTP is "not yet".
        """
        if self.plan.ready_url is not None:
            url = fill_port(self.plan.ready_url, self.port)
            context = self.tls.ssl_context() if url.startswith("https://") else None
            try:
                with urllib.request.urlopen(url, timeout=1.0, context=context) as response:
                    return int(response.status) == 200
            except (OSError, urllib.error.URLError, ValueError, http.client.HTTPException):
                return False  # not listening yet, or not answering HTTP (yet)
        try:
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def stop(self) -> int | None:
        """SIGTERM to its process group, SIGKILL after the grace period; idempotent."""
        return self.process.stop()
