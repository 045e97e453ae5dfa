"""One chaos run: scenario in, verdict and result files out.

Order of events:

1. Start Toxiproxy (or use ``--toxiproxy-url``) and the target (the reference
   server in the chosen mode, or ``--target-url``).
2. Create one clean proxy for all fast members and one proxy per slow member:
   Toxiproxy has no per-connection toxics, so a proxy per member is how one
   member's link gets slow while the others' do not.
3. Start Locust headless with the project's locustfile.py.
4. Once samples flow: warm-up, then the faults go onto every slow proxy
   (downstream, server to member), then they come off, then cool-down.
5. Stop Locust with SIGINT (it writes its CSV and HTML report), collect the
   samples and the lock reports, judge, and write ``results/<run-id>/``.

A component that dies, a Toxiproxy call that hangs, a signal: each becomes an
ERROR verdict naming the cause. Every child and proxy is removed on the way
out, whatever happened.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from .generator_lag import LAG_FILE_NAME, read_lag_file
from .hdr import read_histograms
from .history import append_history
from .lockreports import LockReportSource, LockReportsUnavailable
from .locust_process import LocustPlan, free_port, locust_process, worker_processes
from .measurements import Measurements, Sample
from .processes import ChildProcess, ProcessFailed
from .progress import Progress, SampleTail
from .report import ReportError, write_report
from .results import format_summary_table, write_junit_xml, write_result_json
from .scenario import Scenario
from .target import PROJECT_ROOT, ReferenceTarget, TargetInfo, TargetUnreachable, probe_target
from .toxiproxy import ToxiproxyClient, ToxiproxyError
from .toxiproxy_server import ToxiproxyServer, ToxiproxyServerError
from .urls import parse_target_url
from .verdict import Verdict, judge

__all__ = ["RunOptions", "RunOutcome", "Interrupted", "run_scenario"]

#: Locust must produce its first sample within this many seconds of starting.
FIRST_SAMPLE_TIMEOUT = 30.0
#: With --expect-workers, how long the master waits for them (and their first sample).
REMOTE_WORKERS_TIMEOUT = 300.0
#: How long Locust may take to write its reports and exit after SIGINT.
LOCUST_STOP_GRACE = 20.0
TICK = 0.2


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the run stops and cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class ComponentFailed(Exception):
    """A component broke mid-run; the message names it and the cause."""


@dataclass
class RunOptions:
    scenario: Scenario
    mode: str | None = "naive"           # reference server mode; None with target_url
    target_url: str | None = None        # any server that speaks docs/protocol.md
    lock_reports: str | None = None      # URL or file of an external target's lock reports
    toxiproxy_url: str | None = None     # use a running Toxiproxy instead of starting one
    results_dir: Path = PROJECT_ROOT / "results"
    history_dir: Path | None = None      # where history.jsonl goes; None: results_dir
    run_id: str | None = None
    progress: bool = True
    workers: int = 0                     # local Locust worker processes (0: one process)
    remote_workers: int = 0              # workers on other machines that join the master
    master_bind_host: str = "127.0.0.1"
    early_verdict: bool = True           # honour the scenario's abort_on_fail checks


@dataclass
class RunOutcome:
    verdict: Verdict
    run_dir: Path
    measurements: Measurements
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


def new_run_id(scenario: Scenario, label: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-{label}-{time.time_ns() % 10**6:06d}"


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` while the run lasts."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    # SIGHUP too: a closed terminal must not leave the children (own sessions) running.
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class ChaosRun:
    """State of one run; :func:`run_scenario` is the way in."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.scenario = options.scenario
        self.label = options.mode or "external"
        self.run_id = options.run_id or new_run_id(self.scenario, self.label)
        self.run_dir = options.results_dir / self.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.measurements = Measurements()
        self.toxiproxy_server: ToxiproxyServer | None = None
        self.toxiproxy: ToxiproxyClient | None = None
        self.target: ReferenceTarget | None = None
        self.target_info: TargetInfo | None = None
        self.locust: ChildProcess | None = None
        self.workers: list[ChildProcess] = []
        self.proxies: list[str] = []
        # Unique even for matrix runs named after their mode, so runs that share a
        # Toxiproxy never collide, and teardown can sweep by prefix.
        self.proxy_prefix = f"{self.run_id}-{uuid.uuid4().hex[:6]}-"
        self.slow_proxies: list[str] = []
        self.faults_on = False
        self.lock_source: LockReportSource | None = None
        self.lock_baseline = 0
        self.lock_first_seen: list[float] = []
        self.samples: list[Sample] = []
        self.tail = SampleTail(self.run_dir / "samples.jsonl")
        self.lag_file = self.run_dir / LAG_FILE_NAME
        self.progress = (Progress(self.label, lag_ms=self.recent_generator_lag)
                         if options.progress else None)
        self.extra: dict[str, Any] = {"run_id": self.run_id, "versions": {}, "pids": {}}
        self.started_monotonic = time.monotonic()

    # Set-up.

    def start_toxiproxy(self) -> None:
        url = self.options.toxiproxy_url
        if url is None:
            self.toxiproxy_server = ToxiproxyServer(self.run_dir / "toxiproxy.log").start()
            self.extra["pids"]["toxiproxy"] = self.toxiproxy_server.pid
            url = self.toxiproxy_server.url
        self.toxiproxy = ToxiproxyClient(url, timeout=5.0)
        self.extra["versions"]["toxiproxy"] = self.toxiproxy.version()
        self.extra["toxiproxy_url"] = url

    def start_target(self) -> None:
        if self.options.target_url:
            checked = parse_target_url(self.options.target_url)  # ValueError: bad input
            try:
                probe_target(checked.url)
            except TargetUnreachable as exc:
                raise ComponentFailed(str(exc)) from None
            self.target_info = TargetInfo(checked.url, checked.host, checked.port)
            spec = self.options.lock_reports
        else:
            settings = self.scenario.target
            assert self.options.mode is not None
            self.target = ReferenceTarget(
                self.options.mode, self.run_dir,
                lock_wait_threshold=settings.lock_wait_threshold_s,
                lock_hold_threshold=settings.lock_hold_threshold_s,
                lock_suspend_threshold=settings.lock_suspend_threshold_s,
                send_timeout=settings.send_timeout_s,
            )
            self.target_info = self.target.start()
            self.extra["pids"]["target"] = self.target.process.pid
            # The server appends every report to this file; unlike its /debug/locks URL,
            # the file can still be read after the server died.
            spec = str(self.target.lock_report_file)
            self.extra["versions"]["target"] = f"targets.roomserver ({self.options.mode})"
        self.lock_source = LockReportSource(spec) if spec else None
        self.measurements.lock_reports_available = self.lock_source is not None
        self.extra["target_url"] = self.target_info.url
        self.extra["lock_reports_source"] = spec

    def create_proxies(self) -> tuple[str, list[str]]:
        """Create the fast proxy and one per slow member; return their ws URLs."""
        assert self.toxiproxy is not None and self.target_info is not None
        info = self.target_info
        path = urlsplit(info.url).path or "/ws"
        upstream = f"{info.host}:{info.port}"

        def proxy_url(name: str) -> str:
            assert self.toxiproxy is not None
            proxy = self.toxiproxy.create_proxy(name, upstream)
            self.proxies.append(name)
            return f"ws://127.0.0.1:{proxy.listen_port}{path}"

        fast_url = proxy_url(f"{self.proxy_prefix}fast")
        slow_urls = []
        for index in range(self.scenario.load.slow_members):
            name = f"{self.proxy_prefix}slow-{index}"
            slow_urls.append(proxy_url(name))
            self.slow_proxies.append(name)
        self.extra["proxies"] = {"fast": fast_url, "slow": slow_urls}
        return fast_url, slow_urls

    def locust_plan(self, fast_url: str, slow_urls: list[str]) -> LocustPlan:
        """What Locust does in this run (``harness ui`` starts it with a web UI instead)."""
        load, timing = self.scenario.load, self.scenario.timing
        return LocustPlan(
            users=load.members,
            spawn_rate=load.spawn_rate,
            # A bound in case the harness vanishes; normally the harness stops it earlier.
            run_time_s=timing.total_s + self.first_sample_timeout() + 10,
            room_url=fast_url,
            slow_urls=slow_urls,
            rooms=load.rooms,
            broadcast_interval_s=load.broadcast_interval_s,
            stay_s=load.stay_s,
            away_s=load.away_s,
            samples_file=self.tail.path,
            histograms_file=self.run_dir / "histograms.json",
            lock_reports=self.lock_source.spec if self.lock_source else "",
            csv_prefix=self.run_dir / "locust",
            html_report=self.run_dir / "locust.html",
            workers=self.options.workers,
            remote_workers=self.options.remote_workers,
            master_bind_host=self.options.master_bind_host,
            master_port=free_port() if self.options.workers + self.options.remote_workers else 0,
            lag_file=self.lag_file,
        )

    def start_locust(self, fast_url: str, slow_urls: list[str]) -> None:
        plan = self.locust_plan(fast_url, slow_urls)
        self.locust = locust_process(plan, self.run_dir / "locust.log")
        self.locust.start()
        self.extra["locust_master"] = (
            f"{plan.master_bind_host}:{plan.master_port}" if plan.distributed else None
        )
        if plan.remote_workers:  # even with --quiet: people must start them
            print(f"waiting for {plan.remote_workers} remote worker(s): locust -f locustfile.py "
                  f"--worker --master-host HOST --master-port {plan.master_port}",
                  file=sys.stderr, flush=True)
        self.workers = worker_processes(plan, self.run_dir)
        for worker in self.workers:
            worker.start()
        self.extra["pids"]["locust_workers"] = [worker.pid for worker in self.workers]
        # Package metadata, not an import: importing locust would monkey-patch this process.
        self.extra["versions"]["locust"] = importlib.metadata.version("locust")
        self.extra["pids"]["locust"] = self.locust.pid

    # Faults.

    def set_faults(self, on: bool) -> None:
        assert self.toxiproxy is not None
        for proxy in self.slow_proxies:
            for index, fault in enumerate(self.scenario.faults):
                name = f"{fault.kind}-{index}"
                if on:
                    toxic = fault.toxic()
                    self.toxiproxy.add_toxic(proxy, name, toxic.type, toxic.stream,
                                             attributes=dict(toxic.attributes))
                else:
                    self.toxiproxy.remove_toxic(proxy, name)
        self.faults_on = on

    # The timeline.

    def check_components(self) -> None:
        if self.target is not None and not self.target.process.alive():
            raise ComponentFailed(f"{self.target.process.death_message()} mid-run")
        for worker in self.workers:
            if not worker.alive():
                raise ComponentFailed(f"{worker.death_message()} mid-run")
        if self.toxiproxy_server is not None and not self.toxiproxy_server.alive():
            raise ComponentFailed(
                f"toxiproxy-server exited with code {self.toxiproxy_server.returncode()} mid-run"
            )

    def collect(self) -> None:
        self.samples.extend(self.tail.read_new())

    def take_lock_baseline(self) -> None:
        """Remember how many reports the source already has: an external target's
        reports from before this run are not this run's. (go-deadlock's text has no
        timestamps, so counting is the only way that works for every source.)"""
        if self.lock_source is not None:
            self.lock_baseline = len(self.lock_source.fetch())

    def poll_lock_reports(self, final: bool = False) -> None:
        """Read the reports so far. Mid-run a failed read is retried at the next poll;
        the final read must succeed, or lock_reports == 0 would be a silent PASS."""
        if self.lock_source is None:
            return
        try:
            reports = self.lock_source.fetch()
        except LockReportsUnavailable as exc:
            if final:
                self.measurements.component_errors.append(str(exc))
            return
        new_reports = reports[self.lock_baseline:]
        # go-deadlock's text carries no time: stamp such a report with the moment this
        # harness first saw it (sources are append-only, so positions are stable).
        now = time.time()
        while len(self.lock_first_seen) < len(new_reports):
            self.lock_first_seen.append(now)
        for report, first_seen in zip(new_reports, self.lock_first_seen, strict=False):
            if not report.get("time"):
                report["time"] = first_seen
        self.measurements.lock_reports = new_reports

    def first_sample_timeout(self) -> float:
        """Remote workers are started by people: give them minutes, not seconds."""
        return REMOTE_WORKERS_TIMEOUT if self.options.remote_workers else FIRST_SAMPLE_TIMEOUT

    def broken_abort_check(self, into_fault_s: float) -> bool:
        """Evaluate the abort-on-fail checks on what is measured so far (like k6's
        abortOnFail); record and say so when one is broken."""
        checks = self.scenario.thresholds.abort_on_fail
        if not (self.options.early_verdict and checks):
            return False
        live = Measurements(samples=self.samples, lock_reports=self.measurements.lock_reports)
        with contextlib.suppress(ValueError):
            live.histograms = read_histograms(self.run_dir / "histograms.json")
        for check in checks:
            result = check.evaluate(live, self.scenario.thresholds.min_samples)
            if result.status == "broken":
                self.measurements.stopped_early = (
                    f"stopped early by '{check.text}', {into_fault_s:.1f} s into the fault"
                )
                self.extra["early_verdict"] = {
                    "check": check.text, "detected_at": time.time(),
                    "after_fault_s": round(into_fault_s, 2),
                    "fault_started": self.measurements.fault_started,
                }
                if self.progress is not None:
                    print(f"[{self.label}] {self.measurements.stopped_early}",
                          file=sys.stderr, flush=True)
                return True
        return False

    def elapsed(self) -> float:
        return time.time() - self.measurements.run_started

    def drive(self) -> None:
        assert self.locust is not None
        timing = self.scenario.timing
        locust_started = time.monotonic()
        while not self.samples:
            self.check_components()
            if not self.locust.alive():
                raise ComponentFailed(f"{self.locust.death_message()} before any sample")
            if time.monotonic() - locust_started > self.first_sample_timeout():
                raise ComponentFailed(
                    f"Locust produced no sample within {self.first_sample_timeout():g} s "
                    f"(log: {self.locust.log_path})"
                )
            time.sleep(TICK)
            self.collect()
        self.measurements.run_started = time.time()
        fault_start, fault_end = timing.warmup_s, timing.warmup_s + timing.fault_s
        end = timing.total_s
        next_lock_poll = 0.0
        # After an early verdict the run goes on for the evidence window (faults still on),
        # so the report shows the stall it caught; the detection time stays the breach's.
        evidence_until: float | None = None
        while (elapsed := self.elapsed()) < end:
            if evidence_until is not None and elapsed >= evidence_until:
                break
            self.check_components()
            if not self.locust.alive():
                raise ComponentFailed(f"{self.locust.death_message()} {elapsed:.1f} s into the run")
            if self.scenario.faults and not self.faults_on and fault_start <= elapsed < fault_end:
                self.set_faults(True)
                self.measurements.fault_started = time.time()
            elif self.faults_on and elapsed >= fault_end:
                self.set_faults(False)
                self.measurements.fault_ended = time.time()
            self.collect()
            if time.monotonic() >= next_lock_poll:
                self.poll_lock_reports()
                # Every tick: an early verdict lands soon after the evidence.
                next_lock_poll = time.monotonic() + TICK - 0.01
                if (evidence_until is None and elapsed >= fault_start
                        and self.broken_abort_check(elapsed - fault_start)):
                    evidence_until = elapsed + timing.evidence_window_s
                    self.extra["early_verdict"]["evidence_window_s"] = timing.evidence_window_s
                    if timing.evidence_window_s <= 0:
                        break
            if self.progress is not None:
                phase = ("evidence" if evidence_until is not None else
                         "warm-up" if elapsed < fault_start else
                         "fault" if elapsed < fault_end else "cool-down")
                left = (end if evidence_until is None else min(end, evidence_until)) - elapsed
                self.progress.update(time.monotonic(), phase, elapsed, left,
                                     self.samples, len(self.measurements.lock_reports))
            time.sleep(TICK)
        self.measurements.run_ended = time.time()
        if self.faults_on:  # stopped early: the proxies (and their toxics) go at teardown
            self.measurements.fault_ended = self.measurements.run_ended
        self.stop_locust()

    def stop_locust(self) -> None:
        """SIGINT makes Locust write its CSV and HTML report and exit."""
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

    # Tear-down: never raises, whatever state the run is in.

    def teardown(self) -> None:
        if self.locust is not None:
            self.locust.stop()
        for worker in self.workers:
            worker.stop()
        if self.toxiproxy is not None and self.toxiproxy_server is None:
            # Someone else's Toxiproxy keeps its proxies: remove all of this run's, by
            # prefix, so one whose creation timed out goes too. (Our own server's
            # proxies go with the server.) A failure here is reported, but it does not
            # change what the run measured.
            try:
                self.toxiproxy.destroy_all(prefix=self.proxy_prefix)
            except ToxiproxyError as exc:
                self.extra.setdefault("cleanup_errors", []).append(str(exc))
                print(f"harness: cleanup: {exc}", file=sys.stderr, flush=True)
        if self.target is not None:
            self.target.stop()
        if self.toxiproxy_server is not None:
            self.toxiproxy_server.stop()

    def execute(self) -> RunOutcome:
        failure: str | None = None
        interrupted: Interrupted | None = None
        try:
            with signals_raise():
                try:
                    self.start_toxiproxy()
                    self.start_target()
                    self.take_lock_baseline()
                    fast_url, slow_urls = self.create_proxies()
                    self.start_locust(fast_url, slow_urls)
                    self.drive()
                except Interrupted as exc:
                    interrupted = exc
                    failure = str(exc)
                except (ComponentFailed, ProcessFailed, ToxiproxyError,
                        ToxiproxyServerError, LockReportsUnavailable) as exc:
                    failure = str(exc)
                finally:
                    if not self.measurements.run_ended:
                        self.measurements.run_ended = time.time()
                    if not self.measurements.run_started:
                        self.measurements.run_started = self.measurements.run_ended
                    # Reports must be read while the target still answers.
                    self.poll_lock_reports(final=True)
                    self.teardown_safely()
        except Interrupted as exc:  # a second signal during clean-up
            interrupted = interrupted or exc
            failure = failure or str(exc)
            self.teardown_safely()
        self.collect()
        self.measurements.samples = list(self.samples)
        try:
            self.measurements.histograms = read_histograms(self.run_dir / "histograms.json")
        except ValueError as exc:
            self.measurements.component_errors.append(f"latency histograms unreadable: {exc}")
        self.read_generator_lag()
        if failure is not None:
            self.measurements.component_errors.insert(0, failure)
        verdict = judge(self.scenario, self.measurements)
        self.extra["interrupted_by"] = interrupted.signum if interrupted else None
        self.write_results(verdict)
        return RunOutcome(verdict, self.run_dir, self.measurements, self.extra)

    def read_generator_lag(self) -> None:
        """The Locust processes' own lag during the load phase (see harness.generator_lag)."""
        try:
            lag = read_lag_file(self.lag_file)
            if lag is not None:
                lag = lag.within(self.measurements.run_started, self.measurements.run_ended)
                lag.per_process()  # decodes every window: a bad one is an error here
        except ValueError as exc:
            self.measurements.component_errors.append(f"generator lag unreadable: {exc}")
            return
        self.measurements.generator_lag = lag

    def recent_generator_lag(self) -> float | None:
        """For the progress line: the worst lag of the last 10 s, None when not measured."""
        try:
            lag = read_lag_file(self.lag_file)
        except ValueError:
            return None
        return lag.recent_max_ms(time.time()) if lag is not None else None

    def teardown_safely(self) -> None:
        # Signals are ignored while children and proxies are removed, so a
        # second Ctrl-C cannot leave anything behind.
        previous = {s: signal.signal(s, signal.SIG_IGN)
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self.teardown()
        finally:
            for signum, old in previous.items():
                signal.signal(signum, old)

    def write_results(self, verdict: Verdict) -> None:
        self.extra["locust_outputs"] = sorted(
            path.name for path in self.run_dir.glob("locust*") if path.is_file()
        )
        result_file = write_result_json(self.run_dir, self.scenario, self.label, verdict,
                                        self.measurements, self.extra)
        write_junit_xml(self.run_dir, f"{self.scenario.name}[{self.label}]", verdict,
                        started_at=self.measurements.run_started,
                        duration_s=self.measurements.duration_s)
        # The report and the history line are built from result.json alone; neither may
        # change the verdict, so a failure is one line on stderr.
        try:
            write_report(self.run_dir)
        except ReportError as exc:
            print(f"harness: report.html not written: {exc}", file=sys.stderr)
        except Interrupted:
            raise  # a signal (a sweep or matrix handles it), not a bug in the report
        except Exception as exc:  # a bug in the report must not cost the run its verdict
            print(f"harness: report.html not written: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
        try:
            append_history(self.options.history_dir or self.options.results_dir, result_file)
        except (OSError, ValueError) as exc:
            print(f"harness: history line not written: {exc}", file=sys.stderr)


def run_scenario(options: RunOptions) -> RunOutcome:
    """Run one scenario end to end and write ``results/<run-id>/``."""
    return ChaosRun(options).execute()


def print_outcome(outcome: RunOutcome) -> None:
    print(format_summary_table(outcome.verdict))
    print(outcome.verdict.message)
    print(f"results: {outcome.run_dir}")
