"""``python -m harness ui``: Locust's web UI with the Chaos tab, on a live target.

It sets up exactly what a headless run sets up, with the same code
(:class:`~harness.run.ChaosRun`): Toxiproxy, the target, one clean proxy for the fast members and
one proxy per slow member. Then it starts Locust with its web UI on 127.0.0.1 instead of
headless, prints the address and waits. The person starts the swarm in the browser and steers
the slow members' latency in the Chaos tab (:mod:`harness.webui`); there is no timeline and no
verdict.

Ctrl-C (SIGINT) or SIGTERM stops Locust, removes the proxies, stops the target and Toxiproxy,
and exits with 130 or 143. A component that dies on its own ends the session with exit code 2
and one line naming it. A busy web port is refused up front with one line (``--port 0`` picks
a free one).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .processes import ChildProcess, ProcessFailed
from .run import ChaosRun, ComponentFailed, Interrupted, RunOptions, new_run_id, signals_raise
from .target import PROJECT_ROOT
from .toxiproxy import ToxiproxyError
from .toxiproxy_server import ToxiproxyServerError

__all__ = ["DEFAULT_PORT", "PortBusy", "UiOptions", "add_parser", "check_port", "serve"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8089
#: Locust must answer on its web port within this many seconds of starting.
UI_READY_TIMEOUT = 45.0
TICK = 0.5


class PortBusy(Exception):
    """The web UI's port is taken; the message is one line saying what to do."""


@dataclass
class UiOptions:
    """What ``harness ui`` runs: the run's set-up, and where the web UI listens."""

    run: RunOptions
    port: int = DEFAULT_PORT


def add_parser(commands: Any, modes: Sequence[str]) -> argparse.ArgumentParser:
    """Add the ``ui`` sub-command to the harness's sub-parsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "ui", help="Locust's web UI with a Chaos tab: explore the bug live in a browser",
        description="Start Toxiproxy, the target and the proxies as a run does, then Locust's "
                    "web UI on 127.0.0.1. Start the swarm in the browser; the Chaos tab shows "
                    "the slow members' links, lock reports and thresholds, and sets or clears "
                    "latency live. Ctrl-C stops everything.")
    parser.add_argument("scenario", type=Path,
                        help="scenario TOML file (its load, target settings and thresholds)")
    parser.add_argument("--mode", choices=list(modes), default="naive",
                        help="mode of the bundled reference server (default: naive)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"web UI port on 127.0.0.1 (default: {DEFAULT_PORT}; 0 picks a "
                             "free one)")
    parser.add_argument("--target-url", metavar="WS_URL",
                        help="your own server (ws://127.0.0.1:PORT/ws) instead of the bundled one")
    parser.add_argument("--lock-reports", metavar="FILE|URL",
                        help="with --target-url: where its lock reports are")
    parser.add_argument("--toxiproxy-url", metavar="URL",
                        help="use this running Toxiproxy instead of starting one")
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results",
                        help="where the session's folder of logs goes (default: results/)")
    return parser


def check_port(port: int) -> int:
    """Return the port the web UI will use on 127.0.0.1: ``port`` if free, any free one for 0.

    Raises:
        PortBusy: ``port`` is taken (or not a port); the message says what to do.
    """
    if not 0 <= port <= 65535:
        raise PortBusy(f"--port {port} is not a TCP port (0-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Locust's server sets SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(f"{HOST}:{port} is already in use (another Locust?); pick another "
                               "port with --port N, or --port 0 for any free one") from None
            raise PortBusy(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
        return int(probe.getsockname()[1])


def locust_arguments(run: ChaosRun) -> list[str]:
    """The Chaos tab's options for Locust (see :mod:`harness.loadgen.options`)."""
    assert run.target_info is not None and run.toxiproxy is not None
    return [
        "--host", run.target_info.url,  # Locust's start form asks for a host otherwise
        "--toxiproxy-url", run.toxiproxy.url,
        "--slow-proxies", ",".join(run.slow_proxies),
        "--target-url", run.target_info.url,
        "--target-mode", run.options.mode or "",
        "--scenario", str(Path(run.scenario.source_path).resolve()),
        "--slow-members", str(len(run.slow_proxies)),
        "--latency", "0",
    ]


def start_locust_ui(run: ChaosRun, port: int, fast_url: str, slow_urls: list[str]) -> None:
    """Start Locust with its web UI on ``127.0.0.1:port``, set up like a headless run's."""
    plan = dataclasses.replace(run.locust_plan(fast_url, slow_urls), headless=False,
                               web_port=port, workers=0, remote_workers=0)
    argv = [sys.executable, "-m", "locust", *plan.arguments(), *locust_arguments(run)]
    run.locust = ChildProcess("locust", argv, run.run_dir / "locust.log", cwd=PROJECT_ROOT)
    run.locust.start()
    run.extra["pids"]["locust"] = run.locust.pid


def wait_for_ui(run: ChaosRun, url: str, timeout: float = UI_READY_TIMEOUT) -> None:
    """Return once Locust's web UI answers at ``url``.

    Raises:
        ComponentFailed: Locust exited first, or did not answer within ``timeout``.
    """
    assert run.locust is not None
    deadline = time.monotonic() + timeout
    while True:
        if not run.locust.alive():
            raise ComponentFailed(f"{run.locust.death_message()} before its web UI answered")
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise ComponentFailed(f"Locust's web UI did not answer at {url} within {timeout:g} s "
                                  f"(log: {run.locust.log_path})")
        time.sleep(0.2)


def check_alive(run: ChaosRun) -> None:
    """Raise :class:`ComponentFailed` naming the first child that has died."""
    run.check_components()
    if run.locust is not None and not run.locust.alive():
        raise ComponentFailed(f"{run.locust.death_message()}")


def serve(options: UiOptions, out: TextIO | None = None) -> int:
    """Run the web UI session until a signal or a failure; return the exit code.

    Raises:
        PortBusy: the web port is taken (checked before anything starts).
    """
    out = out if out is not None else sys.stdout
    port = check_port(options.port)
    label = f"ui-{options.run.mode or 'external'}"
    run_options = dataclasses.replace(options.run, progress=False,
                                      run_id=options.run.run_id
                                      or new_run_id(options.run.scenario, label))
    run = ChaosRun(run_options)
    code = 0
    try:
        with signals_raise():
            try:
                run.start_toxiproxy()
                run.start_target()
                fast_url, slow_urls = run.create_proxies()
                start_locust_ui(run, port, fast_url, slow_urls)
                url = f"http://{HOST}:{port}"
                wait_for_ui(run, url + "/")
                _write_session(run, url)
                _announce(run, url, out)
                while True:
                    check_alive(run)
                    time.sleep(TICK)
            except Interrupted as exc:
                code = 128 + exc.signum
                print(f"roomchaos ui: {exc}; stopping everything", file=out, flush=True)
            except (ComponentFailed, ProcessFailed, ToxiproxyError, ToxiproxyServerError,
                    ValueError) as exc:
                code = 2
                print(f"harness: error: {' '.join(str(exc).split())}", file=sys.stderr,
                      flush=True)
            finally:
                _teardown(run)
    except Interrupted as exc:  # a signal between two steps of the clean-up
        code = code or 128 + exc.signum
        _teardown(run)
    print(f"roomchaos ui: stopped; logs in {run.run_dir}", file=out, flush=True)
    return code


def _teardown(run: ChaosRun) -> None:
    """Stop every child and remove every proxy of the session, whatever state it is in."""
    run.teardown_safely()  # also sweeps this session's proxies from a shared Toxiproxy


def _write_session(run: ChaosRun, url: str) -> None:
    """``ui.json`` in the session folder: addresses and child PIDs, for scripts and tests."""
    session = {"url": url, "chaos_page": f"{url}/chaos", "chaos_tab": f"{url}/?tab=chaos",
               "run_id": run.run_id, **run.extra}
    (run.run_dir / "ui.json").write_text(json.dumps(session, indent=2) + "\n")


def _announce(run: ChaosRun, url: str, out: TextIO) -> None:
    assert run.target_info is not None
    mode = run.options.mode or "external"
    lines = [
        f"roomchaos ui: {mode} target at {run.target_info.url}, "
        f"{len(run.slow_proxies)} slow member(s) behind their own proxies",
        f"Locust web UI: {url}  (start the swarm there)",
        f"Chaos tab:     {url}/?tab=chaos  (controls and stacks: {url}/chaos)",
        f"logs:          {run.run_dir}",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), file=out, flush=True)
