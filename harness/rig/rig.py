"""The rig: every component a run or a web UI session needs, started, watched and removed.

A rig owns Toxiproxy (started here, or one the user runs), the target (the reference
server in a mode, the user's server launched from ``--target-cmd``, or the user's server
at ``--target-url``), one clean proxy for the fast members (none with ``[network]
fast_members = "direct"``) and one proxy per slow member (Toxiproxy has no per-connection
toxics, so a proxy per member is how one member's link gets slow while the others' do
not), its lock-report source, and Locust (master and local workers). It knows nothing of
timelines, faults or verdicts: :mod:`harness.run` drives a timeline on it, :mod:`harness.ui` a
web UI session.

Use it as a context manager: leaving the block removes every child and proxy, whatever
happened, with signals ignored meanwhile, so a second Ctrl-C cannot leave anything behind.
Any component failure raises a :class:`~harness.errors.ComponentError` naming it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ComponentError
from harness.measure.lockreports import LockReportSource
from harness.net.tls import TlsOptions
from harness.net.urls import is_loopback, parse_target_url
from harness.processes import ChildProcess
from harness.protocols import build_protocol
from harness.protocols.roomchaos import without_acks
from harness.rig.launched import LaunchedTarget, LaunchPlan, ReferenceTarget, fill_port
from harness.rig.locust_process import LocustPlan, free_port, locust_process, worker_processes
from harness.runfolder import RunFolder
from harness.scenario import Scenario
from harness.target import TargetInfo, TargetUnreachable, http_base, probe_target
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError
from harness.toxiproxy.server import ToxiproxyServer

__all__ = ["ComponentFailed", "Interrupted", "OptionsError", "Rig", "RigOptions",
           "check_fast_members", "new_run_id", "signals_raise"]

#: The run's member fault commands to Locust, and what the members report back (run folder).
#: How long Locust may take to write its reports and exit after SIGINT.
LOCUST_STOP_GRACE = 20.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived; whatever runs stops and cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class ComponentFailed(ComponentError):
    """A component died or misbehaved mid-run; the message names it and the cause."""


def new_run_id(scenario: Scenario, label: str) -> str:
    """A run folder's name: time, scenario, label (the mode, ``matrix``...), a nonce."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-{label}-{time.time_ns() % 10**6:06d}"


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` inside the block.

    SIGHUP too: a closed terminal must not leave the children (own sessions) running.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore the stop signals inside the block (for clean-up that must finish)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@dataclass
class RigOptions:
    """Which components to run.

    Attributes:
        scenario: Its ``[target]`` settings, ``[load]`` and slow-member count shape the rig.
        mode: The reference server's mode; None with ``target_url`` or ``launch``.
        target_url: Any server that speaks the scenario's ``[protocol]`` (docs/protocols.md),
            instead of the reference one.
        launch: The user's server command, started by the rig (its URL is ``launch.url``).
        lock_reports: With ``target_url`` or ``launch``: the URL or file of its lock
            reports (``{port}`` is filled in for a launched target).
        tls: What members and the probe trust for a ``wss://`` target.
        allowed_hosts: Hosts other than loopback the user named (``--allow-host``).
        proxy_host: Where the proxies listen and the members connect (``--proxy-host``).
        toxiproxy_url: A running Toxiproxy to use instead of starting one.
        workers: Local Locust worker processes (0: one process).
        remote_workers: Workers on other machines that join the master.
        master_bind_host: Where the Locust master listens for workers.
        master_port: The port it listens on (``--master-port``); 0: a free one.
        origin: The Origin header of every connection (``[target] origin``, ``--origin``);
            None: the target's own origin, whatever proxy is dialled (:mod:`harness.net.tls`).
        label: What the runs are called (``[target] label``, ``--label``); None: the mode.
    """

    scenario: Scenario
    mode: str | None = "naive"
    target_url: str | None = None
    launch: LaunchPlan | None = None
    lock_reports: str | None = None
    tls: TlsOptions = TlsOptions()
    allowed_hosts: tuple[str, ...] = ()
    proxy_host: str = "127.0.0.1"
    toxiproxy_url: str | None = None
    workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int = 0
    origin: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        # Every run, matrix, sweep and web UI session builds its options before anything
        # starts: a combination that cannot work is refused here, once for all of them.
        check_fast_members(self)


class OptionsError(ValueError):
    """Options that cannot work together; the message is one line saying what to change (the
    command line prints it and exits 2, as for a bad flag)."""


def check_fast_members(options: RigOptions) -> None:
    """Reject ``[network] fast_members = "direct"`` where the fast members cannot reach the
    target: workers on other hosts (``--expect-workers``) and a target that listens on
    loopback only (the bundled server, or a URL on 127.0.0.0/8, ``localhost`` or ``::1``),
    which those hosts reach only through the proxies (``--proxy-host``).
    :class:`RigOptions` checks itself with it when built.

    Raises:
        OptionsError: one line naming the combination and what to change.
    """
    if options.scenario.network.fast_members != "direct" or not options.remote_workers:
        return
    if options.launch is not None:
        url = fill_port(options.launch.url, 1)
    else:
        url = options.target_url or "ws://127.0.0.1/"  # the bundled server: loopback
    host = urlsplit(url).hostname
    if is_loopback(host):
        raise OptionsError(
            f'{options.scenario.source_path}: [network] fast_members = "direct" with '
            f"--expect-workers: workers on other hosts cannot reach the target on loopback "
            f"({host}); leave fast_members out (the clean proxy on --proxy-host) or give a "
            "target on an address they reach")


class Rig:
    """The components of one run or session, their health, and their removal.

    Args:
        options: Which components.
        run_dir: Where logs and component files go; it must exist.
        run_id: Names this rig's proxies (with a random suffix, so rigs sharing a
            Toxiproxy never collide and teardown can sweep by prefix).

    Attributes:
        info: What the run records about its components: ``versions``, ``pids``,
            ``toxiproxy_url``, ``target_url``, ``lock_reports_source``, ``proxies`` and
            ``locust_master``.
    """

    def __init__(self, options: RigOptions, run_dir: Path, run_id: str) -> None:
        self.options = options
        self.scenario = options.scenario
        # Absolute: Locust and the bundled server run in the harness's folder, not the user's.
        self.run_dir = run_dir.absolute()
        self.toxiproxy_server: ToxiproxyServer | None = None
        self.toxiproxy: ToxiproxyClient | None = None
        self.target: LaunchedTarget | None = None
        self.target_info: TargetInfo | None = None
        self.lock_source: LockReportSource | None = None
        self.locust: ChildProcess | None = None
        self.workers: list[ChildProcess] = []
        self.proxy_prefix = f"{run_id}-{uuid.uuid4().hex[:6]}-"
        self.slow_proxies: list[str] = []
        self.info: dict[str, Any] = {"versions": {}, "pids": {}}
        self.cleanup_errors: list[str] = []
        #: Member fault commands for Locust (see harness.faults.member_commands), and its reports.
        self.folder = RunFolder(run_dir)
        self.control_file = self.folder.control
        self.member_faults_file = self.folder.member_faults

    # Start-up, in this order.

    def start_toxiproxy(self) -> None:
        """Start ``toxiproxy-server`` on a free loopback port, or connect to the user's."""
        url = self.options.toxiproxy_url
        if url is None:
            self.toxiproxy_server = ToxiproxyServer(self.folder.toxiproxy_log).start()
            self.info["pids"]["toxiproxy"] = self.toxiproxy_server.pid
            url = self.toxiproxy_server.url
        self.toxiproxy = ToxiproxyClient(url, timeout=5.0)
        self.info["versions"]["toxiproxy"] = self.toxiproxy.version()
        self.info["toxiproxy_url"] = url

    def start_target(self) -> None:
        """Start the reference server or the user's command, or probe the user's URL.

        Raises:
            ValueError: a bad ``--target-url`` (bad input, not a component failure).
        """
        options = self.options
        spec = options.lock_reports
        if options.target_url and options.launch is None:
            self.use_target_url(options.target_url)
        else:
            target = self.target = self.launched_target()
            try:
                info = target.start()
            finally:  # recorded even when it never got ready: result.json names the child
                self.info["target_command"] = target.argv
                if target.pid is not None:
                    self.info["pids"]["target"] = target.pid
            if isinstance(target, ReferenceTarget):
                self.target_info = info
                # The server appends every report to this file; unlike its /debug/locks URL,
                # the file can still be read after the server died.
                spec = str(target.lock_report_file)
                settings = self.scenario.target
                delivery = (f", {settings.delivery} delivery" if settings.bundled.deliveries
                            else "")
                self.info["versions"]["target"] = (
                    f"{target.server.module} ({options.mode}{delivery})")
            else:
                self.use_target_url(info.url)
                spec = fill_port(spec, target.port) if spec else spec
        if spec and not spec.startswith(("http://", "https://")):
            spec = str(Path(spec).absolute())  # the user's file; Locust reads it too
        self.lock_source = (LockReportSource(spec, context=options.tls.ssl_context())
                            if spec else None)
        assert self.target_info is not None
        self.info["target_url"] = self.target_info.url
        self.info["lock_reports_source"] = spec

    def launched_target(self) -> LaunchedTarget:
        """The user's command (``--target-cmd``), else the bundled server in the run's mode."""
        options = self.options
        if options.launch is not None:
            return LaunchedTarget(options.launch, self.run_dir, options.tls)
        settings = self.scenario.target
        assert options.mode is not None
        return ReferenceTarget(
            options.mode, self.run_dir,
            lock_wait_threshold=settings.lock_wait_threshold_s,
            lock_hold_threshold=settings.lock_hold_threshold_s,
            lock_suspend_threshold=settings.lock_suspend_threshold_s,
            send_timeout=settings.send_timeout_s,
            server=settings.server,
            delivery=settings.delivery if settings.bundled.deliveries else None,
        )

    def use_target_url(self, url: str) -> None:
        """Check that the server at ``url`` answers a WebSocket handshake, and use it.

        This first probe dials the target itself (a target that is not there is named as
        such); :meth:`probe_through` repeats it the members' way once the proxies exist.
        """
        checked = parse_target_url(url, allowed_hosts=self.options.allowed_hosts)
        self.probe(checked.url, checked.url)
        self.target_info = TargetInfo(checked.url, checked.host, checked.port)

    def probe(self, dialled: str, target_url: str, via: str = "") -> None:
        """One WebSocket handshake as a member makes it (the protocol's URL for a room, the
        members' Host, Origin and TLS); a refusal is a :class:`ComponentFailed` with the
        server's answer."""
        try:
            protocol = build_protocol(self.scenario.protocol.to_json())
            probe_target(protocol.connect_url(dialled, "harness-probe", "harness-probe"),
                         tls=self.options.tls, target_url=target_url,
                         origin=self.options.origin, via=via)
        except TargetUnreachable as exc:
            raise ComponentFailed(str(exc)) from None

    def probe_through(self, proxy_url: str) -> None:
        """Probe a target given by URL or command through the fast members' proxy: the path
        every member takes, so a handshake refused there (a 403 from a same-origin check) is
        an ERROR before the run, never a run of failed joins judged FAIL."""
        if self.target_info is not None and self.options.mode is None:
            self.probe(proxy_url, self.target_info.url, via=f"proxy {proxy_url}")

    @property
    def target_pid(self) -> int | None:
        """The target's process id when this rig started it (the reference server or a
        ``--target-cmd`` command); None for a server given by URL."""
        return self.target.pid if self.target is not None else None

    @property
    def metrics_url(self) -> str | None:
        """Where Prometheus metrics are scraped: ``[target] metrics_url``, else the target's
        ``/metrics`` on its own host and port; None before the target is known."""
        if self.scenario.target.metrics_url is not None:
            return self.scenario.target.metrics_url
        if self.target_info is None:
            return None
        return f"{http_base(self.target_info.url)}/metrics"

    def create_proxies(self, direct_slow: bool = False) -> tuple[str, list[str]]:
        """Create the fast members' proxy and one per slow member; return their ws URLs.

        With ``[network] fast_members = "direct"`` the fast members get no proxy: their URL is
        the target's, and Toxiproxy carries only the slow members' traffic (the options were
        checked for where that cannot work when built, :func:`check_fast_members`).

        With ``direct_slow`` the slow members connect to the target itself, with no proxy in
        between: a member that stops reading (a stall) must be the server's own peer, or the
        proxy's buffers would hold what the server's socket should (and its receive queue
        would stop growing before the server's send buffer is full).
        """
        assert self.toxiproxy is not None and self.target_info is not None
        toxiproxy, info = self.toxiproxy, self.target_info
        target = urlsplit(info.url)
        # The path as given, none included: the protocol picks its default (socketio:
        # /socket.io/), as it does for a slow member that connects to the target directly.
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream = f"{info.host}:{info.port}"
        host = self.options.proxy_host
        url_host = f"[{host}]" if ":" in host else host

        def proxy_url(name: str) -> str:
            # wss stays wss: the TLS session passes through the proxy untouched, and the
            # members keep the target's name for SNI and verification (harness.net.tls).
            proxy = toxiproxy.create_proxy(name, upstream, f"{url_host}:0",
                                           self.options.allowed_hosts)
            return f"{target.scheme}://{url_host}:{proxy.listen_port}{path}"

        fast_path = self.scenario.network.fast_members
        if fast_path == "direct":
            fast_url = info.url  # probed already, by start_target
        else:
            fast_url = proxy_url(f"{self.proxy_prefix}fast")
            self.probe_through(fast_url)
        # Which path the fast members took: result.json's extra.proxies says it.
        proxies: dict[str, Any] = {"fast_path": fast_path, "fast": fast_url}
        if direct_slow:
            slow_urls = [info.url] * self.scenario.load.slow_members
            self.info["proxies"] = {**proxies, "slow": [], "slow_direct": slow_urls}
            return fast_url, slow_urls
        slow_urls = []
        for index in range(self.scenario.load.slow_members):
            name = f"{self.proxy_prefix}slow-{index}"
            slow_urls.append(proxy_url(name))
            self.slow_proxies.append(name)
        self.info["proxies"] = {**proxies, "slow": slow_urls}
        return fast_url, slow_urls

    def locust_plan(self, fast_url: str, slow_urls: list[str], run_time_s: float) -> LocustPlan:
        """What Locust runs on this rig: the scenario's load, its files in the run folder.

        ``run_time_s`` bounds Locust in case the harness vanishes; normally the harness
        stops it earlier.
        """
        load = self.scenario.load
        distributed = self.options.workers + self.options.remote_workers
        return LocustPlan(
            users=load.members,
            spawn_rate=load.spawn_rate,
            run_time_s=run_time_s,
            room_url=fast_url,
            slow_urls=slow_urls,
            rooms=load.rooms,
            broadcast_interval_s=load.broadcast_interval_s,
            stay_s=load.stay_s,
            away_s=load.away_s,
            samples_file=self.folder.samples,
            histograms_file=self.folder.histograms,
            lock_reports=self.lock_source.spec if self.lock_source else "",
            csv_prefix=self.folder.locust_csv_prefix,
            html_report=self.folder.locust_html,
            workers=self.options.workers,
            remote_workers=self.options.remote_workers,
            master_bind_host=self.options.master_bind_host,
            master_port=(self.options.master_port or free_port()) if distributed else 0,
            lag_file=self.folder.lag,
            body_size=load.body_size,
            op_timeout_s=load.op_timeout_s,
            control_file=self.control_file,
            member_faults_file=self.member_faults_file,
            target_url=self.target_info.url if self.target_info else "",
            tls=self.options.tls,
            protocol=self.members_protocol(),
            push=self.scenario.push.to_json() if self.scenario.push else "",
            origin=self.options.origin or "",
        )

    def members_protocol(self) -> str:
        """The members' ``[protocol]`` as JSON (Locust's ``--protocol``). Against the bundled
        server in ``write`` delivery, which awaits no ack and ignores any, roomchaos members
        send none (``acks = false``) unless the scenario sets ``acks`` itself: a member's ack
        is a socket send per delivery, work a member of a real chat client never does."""
        description = dict(self.scenario.protocol.description)
        if isinstance(self.target, ReferenceTarget) and self.target.delivery == "write":
            description = without_acks(description)
            self.info["member_acks"] = description.get("acks", True)
        return json.dumps(description, separators=(",", ":"))

    def start_locust(self, plan: LocustPlan, extra_arguments: Sequence[str] = ()) -> None:
        """Start Locust (and its local workers) as ``plan`` says."""
        self.locust = locust_process(plan, self.folder.locust_log, extra_arguments)
        self.locust.start()
        self.info["locust_master"] = (
            f"{plan.master_bind_host}:{plan.master_port}" if plan.distributed else None
        )
        if plan.remote_workers:  # even with --quiet: people must start them
            print(f"waiting for {plan.remote_workers} remote worker(s): locust -f locustfile.py "
                  f"--worker --master-host HOST --master-port {plan.master_port}",
                  file=sys.stderr, flush=True)
        self.workers = worker_processes(plan, self.run_dir)
        for worker in self.workers:
            worker.start()
        self.info["pids"]["locust_workers"] = [worker.pid for worker in self.workers]
        # Package metadata, not an import: importing locust would monkey-patch this process.
        self.info["versions"]["locust"] = importlib.metadata.version("locust")
        self.info["pids"]["locust"] = self.locust.pid

    # Health.

    def check_components(self, when: str = "mid-run") -> None:
        """Raise :class:`ComponentFailed` naming the first component that has died."""
        if self.target is not None and not self.target.process.alive():
            raise ComponentFailed(f"{self.target.process.death_message()} {when}")
        for worker in self.workers:
            if not worker.alive():
                raise ComponentFailed(f"{worker.death_message()} {when}")
        if self.toxiproxy_server is not None and not self.toxiproxy_server.alive():
            raise ComponentFailed(
                f"toxiproxy-server exited with code {self.toxiproxy_server.returncode()} {when}"
            )
        if self.locust is not None and not self.locust.alive():
            raise ComponentFailed(f"{self.locust.death_message()} {when}")

    # Stopping.

    def stop_locust(self) -> None:
        """SIGINT makes Locust write its CSV and HTML report and exit; then the workers go."""
        if self.locust is None or not self.locust.alive():
            return
        self.locust.signal(signal.SIGINT)
        assert self.locust.popen is not None
        with contextlib.suppress(Exception):
            self.locust.popen.wait(LOCUST_STOP_GRACE)
        self.locust.stop()
        for worker in self.workers:  # the master told them to quit; make sure
            if worker.popen is not None:
                with contextlib.suppress(Exception):
                    worker.popen.wait(5)
            worker.stop()

    def teardown(self) -> None:
        """Remove every child and proxy; never raises, signals are ignored meanwhile."""
        with signals_ignored():
            if self.locust is not None:
                self.locust.stop()
            for worker in self.workers:
                worker.stop()
            if self.toxiproxy is not None and self.toxiproxy_server is None:
                # Someone else's Toxiproxy keeps its proxies: remove all of this rig's, by
                # prefix, so one whose creation timed out goes too. (Our own server's
                # proxies go with the server.) A failure here is reported, but it does not
                # change what the run measured.
                try:
                    self.toxiproxy.destroy_all(prefix=self.proxy_prefix)
                except ToxiproxyError as exc:
                    self.cleanup_errors.append(str(exc))
                    print(f"harness: cleanup: {exc}", file=sys.stderr, flush=True)
            if self.target is not None:
                self.target.stop()
            if self.toxiproxy_server is not None:
                self.toxiproxy_server.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.teardown()
