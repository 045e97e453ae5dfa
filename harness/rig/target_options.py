"""The flags (and scenario keys) that point ``run`` and ``ui`` at the user's own server.

``--target-url`` tests a server that runs already; ``--target-cmd`` starts one
(:mod:`harness.rig.launched`); ``--lock-reports`` says where its lock reports are; ``--ca-file``
and ``--insecure``/``--no-insecure`` say how to verify a ``wss://`` target
(:mod:`harness.net.tls`); ``--origin`` is the Origin header every connection sends (default:
the target's own, :func:`harness.net.tls.target_origin`); ``--label`` names the runs
(:func:`harness.target.check_label`); ``--allow-host`` names a host other than loopback that
may be used (:func:`harness.net.urls.check_host`). Each flag but ``--allow-host`` has a
``[target]`` key of the same name in the scenario; the flag wins (``--no-insecure`` over
``insecure = true``).

:func:`target_rig_options` checks them all together before anything starts: bad input is
one :class:`ValueError` line naming the flag, or the scenario file and key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.durations import parse_duration
from harness.net.tls import TlsOptions, check_ca_file, check_origin
from harness.net.urls import check_host, parse_target_url
from harness.rig.launched import DEFAULT_READY_TIMEOUT, FLAG_NAMES, PORT, LaunchPlan
from harness.scenario import Scenario
from harness.target import check_label

__all__ = ["add_host_flags", "add_target_flags", "allowed_hosts_flag", "check_listen_hosts",
           "target_rig_options"]


OWN_SERVER_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--target-url", {
        "metavar": "WS_URL",
        "help": "a server that runs already (ws://127.0.0.1:PORT/ws, or wss://); with "
                "--target-cmd, the URL of the launched server with {port} (default "
                "ws://127.0.0.1:{port}/ws)"}),
    ("--target-cmd", {
        "metavar": "COMMAND",
        "help": "start your server: a command line (split like a shell line, run without a "
                "shell) with {port} where a free loopback port goes, e.g. \"python -m "
                "myserver --port {port}\"; its output goes to target.log in the run folder, "
                "and it is stopped (SIGTERM, then SIGKILL) whenever the harness ends"}),
    ("--target-ready", {
        "metavar": "HTTP_URL",
        "help": "with --target-cmd: wait until this URL (may hold {port}) answers 200, "
                "instead of until the port accepts connections"}),
    ("--target-ready-timeout", {
        "metavar": "DURATION",
        "help": "with --target-cmd: how long the server has to get ready (default "
                f"{DEFAULT_READY_TIMEOUT:g}s); past it the run is ERROR with the last lines "
                "of its log"}),
    ("--lock-reports", {
        "metavar": "FILE|URL",
        "help": "where your server's lock reports are (lockwatch JSONL, go-deadlock text, "
                "or a URL answering a JSON array; {port} is filled in for --target-cmd)"}),
    ("--ca-file", {
        "metavar": "PEM",
        "help": "with a wss:// target: the CA that signed its certificate (default: the "
                "system's CAs)"}),
    ("--insecure", {
        "action": argparse.BooleanOptionalAction, "default": None,
        "help": "with a wss:// target: do not verify its certificate; --no-insecure "
                "verifies it even when the scenario says insecure = true"}),
    ("--origin", {
        "metavar": "ORIGIN",
        "help": "the Origin header every connection sends, for a server whose same-origin "
                "check expects another (default: the target's own origin, scheme://host:port "
                "of its URL, whatever proxy the members go through)"}),
    ("--label", {
        "metavar": "LABEL",
        "help": "what this run is called in progress lines, result.json, history.jsonl and "
                "trend (default: the mode; 'external' for your own server), so runs of two "
                "servers, or two modes of one, can be told apart"}),
)
"""The own-server flags of ``run`` and ``ui``; each has a ``[target]`` key of its name."""


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    """Add the own-server flags to ``run``'s or ``ui``'s parser."""
    group = parser.add_argument_group(
        "your own server", "Instead of the bundled one (each flag also has a [target] key in "
        "the scenario; the flag wins). It must speak the scenario's [protocol] "
        "(docs/protocols.md).")
    for flag, settings in OWN_SERVER_FLAGS:
        group.add_argument(flag, **settings)


def add_host_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-host`` and ``--proxy-host`` (``run``, ``matrix``, ``sweep``, ``ui``)."""
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                        help="allow this host other than loopback for the target URL, "
                             "--proxy-host or --master-bind-host (repeat for more; 0.0.0.0 "
                             "for all interfaces); without it only 127.0.0.0/8, localhost "
                             "and ::1")
    parser.add_argument("--proxy-host", default="127.0.0.1", metavar="ADDRESS",
                        help="where the Toxiproxy proxies listen and the members connect "
                             "(default: 127.0.0.1; another address must also be named with "
                             "--allow-host, e.g. for workers on other machines)")


class _Choice:
    """One setting: the flag's value if given, else the scenario key's; and its name."""

    def __init__(self, args: argparse.Namespace, scenario: Scenario) -> None:
        self.args = args
        self.scenario = scenario
        self.names: dict[str, str] = {}

    def get(self, attribute: str, key: str, flag: str) -> Any:
        value = getattr(self.args, attribute, None)
        if value is not None:
            self.names[key] = flag
            return value
        self.names[key] = f"{self.scenario.source_path}: [target] {key}"
        return getattr(self.scenario.target, key)


def target_rig_options(args: argparse.Namespace, scenario: Scenario) -> dict[str, Any]:
    """The :class:`~harness.rig.rig.RigOptions` fields for the target, from flags and scenario.

    Returns ``mode`` (None for an own server), ``target_url``, ``launch``,
    ``lock_reports`` and ``tls``; the URLs are checked against ``--allow-host``.

    Raises:
        ValueError: one line naming the flag or scenario key that is wrong, and the fix.
    """
    choice = _Choice(args, scenario)
    command = choice.get("target_cmd", "cmd", "--target-cmd")
    url = choice.get("target_url", "url", "--target-url")
    ready = choice.get("target_ready", "ready", "--target-ready")
    lock_reports = choice.get("lock_reports", "lock_reports", "--lock-reports")
    ca_file = choice.get("ca_file", "ca_file", "--ca-file")
    insecure = bool(choice.get("insecure", "insecure", "--insecure"))
    origin = choice.get("origin", "origin", "--origin")
    label = choice.get("label", "label", "--label")
    names = choice.names
    if origin is not None:  # a scenario's was checked when it was read; a flag's is new
        check_origin(origin, names["origin"])
    if label is not None:
        check_label(label, names["label"])
    ready_timeout: float | None
    if args.target_ready_timeout is not None:
        names["ready_timeout"] = "--target-ready-timeout"
        try:
            ready_timeout = parse_duration(args.target_ready_timeout)
        except ValueError as exc:
            raise ValueError(f"--target-ready-timeout: {exc}") from None
    else:
        names["ready_timeout"] = f"{scenario.source_path}: [target] ready_timeout"
        ready_timeout = scenario.target.ready_timeout_s
    allowed_hosts = allowed_hosts_flag(args)
    launch = None
    if command is not None:
        launch = LaunchPlan.checked(command, url, ready, ready_timeout, allowed_hosts, names)
        url = None
    else:
        for key, value in (("ready", ready), ("ready_timeout", ready_timeout)):
            if value is not None:
                raise ValueError(f"{names[key]} goes with {FLAG_NAMES['cmd']} (or [target] cmd):"
                                 " it says when a server the harness starts is ready")
        if url is not None:
            if PORT in url:
                raise ValueError(f"{names['url']} {url!r} has {PORT}, which only a server the "
                                 "harness starts has; add --target-cmd, or write the port out")
            parse_target_url(url, names["url"], allowed_hosts)
    _check_lock_reports(lock_reports, names["lock_reports"], own_server=launch or url,
                        launched=launch is not None)
    if lock_reports is not None and not lock_reports.startswith(("http://", "https://")):
        lock_reports = str(Path(lock_reports).absolute())  # read from other folders too
    if ca_file is not None:
        check_ca_file(ca_file, names["ca_file"])
        if insecure:
            raise ValueError(f"{names['ca_file']} and {names['insecure']} contradict each "
                             "other: --insecure verifies nothing; keep one")
    return {"mode": None if launch or url else args.mode, "target_url": url, "launch": launch,
            "lock_reports": lock_reports, "tls": TlsOptions(ca_file, insecure),
            "origin": origin, "label": label}


def _check_lock_reports(source: str | None, name: str, own_server: object,
                        launched: bool) -> None:
    if source is None:
        return
    if not own_server:
        raise ValueError(f"{name} goes with --target-url or --target-cmd (the bundled server's "
                         "reports are found automatically)")
    if not source.strip():
        raise ValueError(f"{name} is empty; give the file or URL of your server's lock "
                         "reports, or leave it out")
    if source.startswith(("http://", "https://")):
        return
    if PORT in source:
        raise ValueError(f"{name} {source!r}: {PORT} is for URLs; give the file as it is")
    path = Path(source)
    if launched and not path.exists() and path.parent.is_dir():
        return  # the launched server creates it; no file yet means no report yet
    if not path.is_file():
        raise ValueError(f"{name} {source!r} is not a file; give the file your server "
                         "writes its lock reports to (create it empty if it has none yet), "
                         "or a URL")


def allowed_hosts_flag(args: argparse.Namespace) -> tuple[str, ...]:
    """The hosts named with ``--allow-host``; raises ValueError for an empty one."""
    allowed_hosts = tuple(args.allow_host or ())
    if any(not host.strip() for host in allowed_hosts):
        raise ValueError("--allow-host is empty; give a host name or address")
    return allowed_hosts


def check_listen_hosts(args: argparse.Namespace) -> None:
    """``--proxy-host`` and ``--master-bind-host`` are loopback or named with ``--allow-host``.

    Raises:
        ValueError: one line saying how to allow the address.
    """
    allowed_hosts = allowed_hosts_flag(args)
    if args.proxy_host in ("", "*", "0.0.0.0", "::"):
        raise ValueError(f"--proxy-host {args.proxy_host!r} is a wildcard; members connect to "
                         "this address, so give one they can reach, e.g. 127.0.0.1")
    check_host(args.proxy_host, "--proxy-host", allowed_hosts)
    master = getattr(args, "master_bind_host", "127.0.0.1")  # ui has no workers
    check_host(master or "0.0.0.0", "--master-bind-host", allowed_hosts)
