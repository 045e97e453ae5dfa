"""``python -m harness ui``: Locust's web UI with the Chaos tab, on a live target.

It sets up exactly what a headless run sets up, with the same code (:class:`~harness.rig.rig.Rig`):
Toxiproxy, the target, one clean proxy for the fast members (none with ``[network] fast_members
= "direct"``) and one proxy per slow member.
Then it starts Locust with its web UI on 127.0.0.1 instead of headless, prints the address and
waits. The person starts the swarm in the browser and steers the slow members' latency in the
Chaos tab (:mod:`harness.webui`); there is no timeline and no verdict.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.errors import ComponentError
from harness.net.httpget import answers_200, wait_until
from harness.rig.netns import no_namespace_notice
from harness.rig.rig import ComponentFailed, Interrupted, Rig, RigOptions, new_run_id, signals_raise
from harness.rig.target_options import add_host_flags, add_target_flags
from harness.runfolder import RunFolder
from harness.target import DEFAULT_RESULTS_DIR

__all__ = ["DEFAULT_PORT", "PortBusy", "UiOptions", "add_parser", "check_port", "serve"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8089
#: Locust must answer on its web port within this many seconds of starting.
UI_READY_TIMEOUT = 45.0
#: Locust's own bound on a session (it runs until Ctrl-C, but never forever).
SESSION_RUN_TIME_S = 24 * 3600.0
TICK = 0.5


class PortBusy(Exception):
    """The web UI's port is taken; the message is one line saying what to do."""


@dataclass
class UiOptions:
    """What ``harness ui`` runs: the same rig as a run, a folder for its logs, the web port."""

    rig: RigOptions
    results_dir: Path = DEFAULT_RESULTS_DIR
    port: int = DEFAULT_PORT
    run_id: str | None = None


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
    add_target_flags(parser)
    add_host_flags(parser)
    parser.add_argument("--toxiproxy-url", metavar="URL",
                        help="use this running Toxiproxy instead of starting one")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
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


def locust_arguments(rig: Rig) -> list[str]:
    """The Chaos tab's options for Locust (see :mod:`harness.loadgen.options`)."""
    assert rig.target_info is not None and rig.toxiproxy is not None
    return [
        "--host", rig.target_info.url,  # Locust's start form asks for a host otherwise
        "--toxiproxy-url", rig.toxiproxy.url,
        "--slow-proxies", ",".join(rig.slow_proxies),
        "--target-mode", rig.options.mode or "",
        "--scenario", str(Path(rig.scenario.source_path).resolve()),
        "--slow-members", str(len(rig.slow_proxies)),
        "--latency", "0",
    ]


def start_locust_ui(rig: Rig, port: int, fast_url: str, slow_urls: list[str]) -> None:
    """Start Locust with its web UI on ``127.0.0.1:port``, set up like a headless run's."""
    plan = dataclasses.replace(rig.locust_plan(fast_url, slow_urls, SESSION_RUN_TIME_S),
                               headless=False, web_port=port, workers=0, remote_workers=0)
    rig.start_locust(plan, locust_arguments(rig))


def wait_for_ui(rig: Rig, url: str, timeout: float = UI_READY_TIMEOUT) -> None:
    """Return once Locust's web UI answers at ``url``.

    Raises:
        ComponentFailed: Locust exited first, or did not answer within ``timeout``.
    """
    assert rig.locust is not None
    log_path = rig.locust.log_path
    wait_until(lambda: answers_200(url, timeout=2.0), timeout=timeout, interval=0.2,
               still_alive=lambda: rig.check_components("before its web UI answered"),
               timed_out=lambda: ComponentFailed(
                   f"Locust's web UI did not answer at {url} within {timeout:g} s "
                   f"(log: {log_path})"))


def serve(options: UiOptions, out: TextIO | None = None) -> int:
    """Run the web UI session until a signal or a failure; return the exit code.

    Raises:
        PortBusy: the web port is taken (checked before anything starts).
    """
    out = out if out is not None else sys.stdout
    if options.rig.scenario.network.socket_buffer:
        print(no_namespace_notice("the web UI session never runs in one"), file=sys.stderr,
              flush=True)
    port = check_port(options.port)
    run_id = options.run_id or new_run_id(options.rig.scenario,
                                          f"ui-{options.rig.mode or 'external'}")
    run_dir = options.results_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    rig = Rig(options.rig, run_dir, run_id)
    code = 0
    try:
        with signals_raise(), rig:
            try:
                rig.start_toxiproxy()
                rig.start_target()
                fast_url, slow_urls = rig.create_proxies()
                start_locust_ui(rig, port, fast_url, slow_urls)
                url = f"http://{HOST}:{port}"
                wait_for_ui(rig, url + "/")
                _write_session(rig, run_id, url)
                _announce(rig, url, out)
                while True:
                    rig.check_components("during the session")
                    time.sleep(TICK)
            except Interrupted as exc:
                code = 128 + exc.signum
                print(f"roomchaos ui: {exc}; stopping everything", file=out, flush=True)
            except (ComponentError, ValueError) as exc:
                code = 2
                print(f"harness: error: {' '.join(str(exc).split())}", file=sys.stderr,
                      flush=True)
    except Interrupted as exc:  # a signal between two steps of the clean-up
        code = code or 128 + exc.signum
        rig.teardown()
    print(f"roomchaos ui: stopped; logs in {run_dir}", file=out, flush=True)
    return code


def _write_session(rig: Rig, run_id: str, url: str) -> None:
    """``ui.json`` in the session folder: addresses and child PIDs, for scripts and tests."""
    session = {"url": url, "chaos_page": f"{url}/chaos", "chaos_tab": f"{url}/?tab=chaos",
               "run_id": run_id, **rig.info}
    RunFolder(rig.run_dir).ui_session.write_text(json.dumps(session, indent=2) + "\n")


def _announce(rig: Rig, url: str, out: TextIO) -> None:
    assert rig.target_info is not None
    mode = rig.options.mode or "external"
    lines = [
        f"roomchaos ui: {mode} target at {rig.target_info.url}, "
        f"{len(rig.slow_proxies)} slow member(s) behind their own proxies",
        f"Locust web UI: {url}  (start the swarm there)",
        f"Chaos tab:     {url}/?tab=chaos  (controls and stacks: {url}/chaos)",
        f"logs:          {rig.run_dir}",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), file=out, flush=True)
