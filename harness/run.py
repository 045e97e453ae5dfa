"""One chaos run: scenario in, verdict and result files out.

Order of events:

1. Start Toxiproxy (or use ``--toxiproxy-url``) and the target (the reference
   server in the chosen mode, or ``--target-url``).
2. Create one clean proxy for all fast members (none with ``[network] fast_members =
   "direct"``: they dial the target) and one proxy per slow member:
   Toxiproxy has no per-connection toxics, so a proxy per member is how one
   member's link gets slow while the others' do not.
3. Start Locust headless with the project's locustfile.py.
4. Once samples flow: the schedule (:mod:`harness.schedule`): warm-up, then the faults go
   onto every slow member through the nemesis (:mod:`harness.faults.nemesis`), then they come
   off, then cool-down; an early verdict replaces what is left with an evidence window (and a
   recovery for a member fault).
5. Drain: members start nothing new but keep reading until nothing is in flight (at most
   :data:`DRAIN_MAX_S`), so that every delivery owed can arrive and every gap is judged.
6. Stop Locust with SIGINT (it writes its CSV and HTML report; operations still in flight
   become ``unfinished`` samples), read the last lock reports, then judge what the run folder
   recorded, through the readers ``harness report --rejudge`` uses
   (:mod:`harness.runfolder.recorded`), and write ``results/<run-id>/``.

A component that dies, a Toxiproxy call that hangs, a signal: each becomes an
ERROR verdict naming the cause. Every child and proxy is removed on the way
out, whatever happened.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checker.verdict import Verdict, evaluate_checks, judge
from harness.errors import ComponentError
from harness.faults import FAULT_KINDS, FaultCheck
from harness.faults.member_commands import DRAIN, MemberFaultCommand, append_command
from harness.faults.nemesis import Nemesis
from harness.measure.generator_lag import LagTail
from harness.measure.lockreports import LockReportsUnavailable, LockReportTracker
from harness.measure.measurements import Measurements, Sample, live_measurements
from harness.measure.prometheus import MetricSelector
from harness.measure.sampler import SeriesSampler
from harness.measure.series import SampledSeries
from harness.pages import PageError, write_run_page
from harness.reports.progress import Progress
from harness.reports.results import format_summary_table, write_junit_xml, write_result_json
from harness.reports.trend import append_history
from harness.rig.rig import ComponentFailed, Interrupted, Rig, RigOptions, new_run_id, signals_raise
from harness.runfolder import RunFolder
from harness.runfolder.live import RunFolderReaders
from harness.runfolder.record import RecordError
from harness.runfolder.recorded import RunContext, member_fault_checks, read_recorded
from harness.schedule import END, FAULTS_OFF, FAULTS_ON, Schedule, Step
from harness.target import DEFAULT_RESULTS_DIR
from harness.thresholds import sampled_series

__all__ = ["ChaosRun", "ComponentFailed", "Interrupted", "RunOptions", "RunOutcome", "new_run_id",
           "print_outcome"]

#: Locust must produce its first sample within this many seconds of starting.
FIRST_SAMPLE_TIMEOUT = 30.0
#: With --expect-workers, how long the master waits for them (and their first sample).
REMOTE_WORKERS_TIMEOUT = 300.0
TICK = 0.2
#: The longest the run waits for every Locust process to end its history (after the drain).
END_WAIT_S = 2.0
#: The longest the drain at the run's end waits for operations and owed deliveries in flight:
#: longer than harness.loadgen.history.DELIVERY_GRACE, so that what is still missing then is
#: judged lost.
DRAIN_MAX_S = 1.5


@dataclass
class RunOptions(RigOptions):
    """A run: its rig (:class:`~harness.rig.rig.RigOptions`), where results go, how it reports."""

    results_dir: Path = DEFAULT_RESULTS_DIR
    history_dir: Path | None = None      # where history.jsonl goes; None: results_dir
    run_id: str | None = None
    progress: bool = True
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


class ChaosRun:
    """The timeline of one run on its rig; :func:`run_scenario` is the way in."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.scenario = options.scenario
        self.mode = options.mode or "external"
        #: What progress lines, the run folder, result.json and history call this run.
        self.label = options.label or self.mode
        self.run_id = options.run_id or new_run_id(self.scenario, self.label)
        self.run_dir = options.results_dir / self.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.folder = RunFolder(self.run_dir)
        self.rig = Rig(options, self.run_dir, self.run_id)
        self.measurements = Measurements()
        self.locks = LockReportTracker(None)
        self.faults_on = False
        self.samples: list[Sample] = []
        self.readers = RunFolderReaders(self.folder, record_inflight=True,
                                        member_faults=self.scenario.member_fault_kinds)
        self.order = self.readers.order
        self.inflight = self.readers.inflight
        self.lag = LagTail(self.folder.lag)
        self.progress = (Progress(self.label, lag_ms=self.recent_generator_lag)
                         if options.progress else None)
        self.extra: dict[str, Any] = {"run_id": self.run_id, "label": self.label}
        self.stopped_with_faults_on = False
        self.sampler: SeriesSampler | None = None
        #: The timeline being carried out (replaced by an early verdict); result.json's copy.
        self.schedule = Schedule.planned(self.scenario.timing, bool(self.scenario.faults))

    def first_sample_timeout(self) -> float:
        """Remote workers are started by people: give them minutes, not seconds."""
        return REMOTE_WORKERS_TIMEOUT if self.options.remote_workers else FIRST_SAMPLE_TIMEOUT

    def set_up(self) -> None:
        """Bring the rig up: Toxiproxy, the target, its lock-report baseline, proxies, Locust."""
        rig = self.rig
        rig.start_toxiproxy()
        rig.start_target()
        self.locks = LockReportTracker(rig.lock_source)
        self.measurements.lock_reports_available = self.locks.available
        self.locks.take_baseline()
        self.sampler = self.series_sampler()
        # A member that stops reading must be the server's own peer (see Rig.create_proxies).
        member_only = bool(self.scenario.faults) and not self.scenario.proxy_faults
        fast_url, slow_urls = rig.create_proxies(direct_slow=member_only)
        run_time_s = self.scenario.timing.total_s + self.first_sample_timeout() + 10
        rig.start_locust(rig.locust_plan(fast_url, slow_urls, run_time_s))

    def series_sampler(self) -> SeriesSampler:
        """The sampler of what the checks need: metrics they name, the target's RSS and
        threads (always, where the rig knows the target's pid, so the report can draw them)."""
        selectors = [MetricSelector.parse(name.removeprefix("metric[").removesuffix("]"))
                     for name in sampled_series(self.scenario.thresholds.checks)
                     if name.startswith("metric[")]
        return SeriesSampler(self.folder.series,
                             metrics_url=self.rig.metrics_url if selectors else None,
                             selectors=selectors, pid=self.rig.target_pid,
                             context=self.options.tls.ssl_context())

    def sampled(self) -> SampledSeries | None:
        return self.sampler.snapshot() if self.sampler is not None else None

    # Faults.

    def set_faults(self, on: bool) -> None:
        """Switch every fault of the scenario on or off on every slow member, through the
        nemesis (:mod:`harness.faults.nemesis`)."""
        nemesis = Nemesis(self.rig.toxiproxy,
                          lambda command: append_command(self.rig.control_file, command))
        if on:
            nemesis.apply(self.scenario.faults, self.rig.slow_proxies)
        else:
            nemesis.lift([FAULT_KINDS[fault.kind] for fault in self.scenario.faults],
                         self.rig.slow_proxies)
        self.faults_on = on

    def context(self) -> RunContext:
        """What the readers of the run folder need of this run
        (:class:`~harness.runfolder.recorded.RunContext`), as it stands: the live readers (with
        the member faults' evidence), the samples they gave, the timings and the sampler's
        reasons.

        The samples are collected first, so that ``samples_read`` holds every sample the
        readers gave and a second call loses none."""
        self.collect()
        measurements = self.measurements
        # Only the reasons, not a copy of every point (this runs on every progress tick).
        problems = dict(self.sampler.series.problems) if self.sampler is not None else {}
        return RunContext(
            readers=self.readers, samples_read=self.samples,
            run_started=measurements.run_started, run_ended=measurements.run_ended,
            fault_started=measurements.fault_started,
            # switched off by stopping, not lifted while measured
            faults_lifted=None if self.stopped_with_faults_on else measurements.fault_ended,
            slow_members=self.scenario.load.slow_members,
            series_problems=problems,
        )

    def member_fault_checks(self) -> dict[str, FaultCheck]:
        """Each member fault kind's own check (:attr:`FaultKind.evidence`) of what the members
        reported so far, by kind name; empty without such a fault."""
        return member_fault_checks(self.context())

    # The timeline.

    def collect(self) -> None:
        self.samples.extend(self.readers.read_new())

    def poll_lock_reports(self) -> None:
        self.measurements.lock_reports = self.locks.poll()

    def live(self) -> Measurements:
        """What is measured so far, as the verdict would see it.

        See :func:`harness.measure.measurements.live_measurements`.
        """
        return live_measurements(
            self.samples, self.measurements.lock_reports,
            lock_reports_available=self.locks.available,
            histograms_file=self.folder.histograms,
            run_started=self.measurements.run_started,
            fault_started=self.measurements.fault_started,
            sampled=self.sampled(), delivery_order=self.order.counts,
            waiting=self.inflight.current(),
        )

    def broken_abort_check(self, into_fault_s: float) -> bool:
        """Evaluate the abort-on-fail checks on what is measured so far (like k6's
        abortOnFail); record and say so when one is broken."""
        checks = self.scenario.thresholds.abort_on_fail
        if not (self.options.early_verdict and checks):
            return False
        results = evaluate_checks(checks, self.live(), self.scenario.thresholds.min_samples)
        broken = next((result for result in results if result.status == "broken"), None)
        if broken is None:
            return False
        self.measurements.stopped_early = (
            f"stopped early by '{broken.check}', {into_fault_s:.1f} s into the fault"
        )
        self.extra["early_verdict"] = {
            "check": broken.check, "detected_at": time.time(),
            "after_fault_s": round(into_fault_s, 2),
            "fault_started": self.measurements.fault_started,
        }
        if self.progress is not None:
            print(f"[{self.label}] {self.measurements.stopped_early}",
                  file=sys.stderr, flush=True)
        return True

    def elapsed(self) -> float:
        return time.time() - self.measurements.run_started

    def wait_for_first_sample(self) -> None:
        rig = self.rig
        assert rig.locust is not None
        locust_started = time.monotonic()
        while not self.samples:
            rig.check_components("before any sample")
            if time.monotonic() - locust_started > self.first_sample_timeout():
                raise ComponentFailed(
                    f"Locust produced no sample within {self.first_sample_timeout():g} s "
                    f"(log: {rig.locust.log_path})"
                )
            time.sleep(TICK)
            self.collect()

    def drive(self) -> None:
        """Carry the schedule out (:mod:`harness.schedule`): each step as it falls due, an
        early verdict replacing what is still to come; collect and report meanwhile."""
        timing = self.scenario.timing
        self.wait_for_first_sample()
        self.measurements.run_started = time.time()
        if self.sampler is not None:
            self.sampler.start(self.measurements.run_started)
        schedule = self.schedule = Schedule.planned(timing, bool(self.scenario.faults))
        done = 0  # steps carried out
        next_lock_poll = 0.0
        judged_early = False
        while True:
            elapsed = self.elapsed()
            due = schedule.due(done, elapsed)
            done += len(due)
            for step in due:
                self.carry_out(step, current=step is schedule.step_at(elapsed))
            step = schedule.step_at(elapsed)
            if step.phase == END:
                break
            if step.until_cleared and (checks := self.member_fault_checks()) \
                    and all(check.cleared for check in checks.values()):
                schedule = self.schedule = schedule.ended_at(elapsed)
                break
            self.rig.check_components(f"{elapsed:.1f} s into the run")
            self.collect()
            if time.monotonic() >= next_lock_poll:
                self.poll_lock_reports()
                # Every tick: an early verdict lands soon after the evidence.
                next_lock_poll = time.monotonic() + TICK - 0.01
                if (not judged_early and elapsed >= schedule.fault_start_s
                        and self.broken_abort_check(elapsed - schedule.fault_start_s)):
                    judged_early = True
                    self.extra["early_verdict"]["evidence_window_s"] = timing.evidence_window_s
                    schedule = self.schedule = schedule.after_early_verdict(
                        elapsed, timing.evidence_window_s, timing.cooldown_s,
                        member_faults_on=self.faults_on and bool(self.scenario.member_faults))
                    continue  # an evidence window of 0 ends the run at once
            if self.progress is not None:
                self.progress.update(time.monotonic(), schedule.phase_at(elapsed), elapsed,
                                     schedule.left_s(elapsed), self.live,
                                     self.scenario.thresholds)
            time.sleep(TICK)
        self.drain()
        self.measurements.run_ended = time.time()
        if self.sampler is not None:
            self.sampler.stop()
        if self.faults_on:  # stopped early: the proxies (and their toxics) go at teardown
            self.measurements.fault_ended = self.measurements.run_ended
            self.stopped_with_faults_on = True
        self.rig.stop_locust()

    def carry_out(self, step: Step, current: bool) -> None:
        """Do what ``step`` says; faults go on only while their phase is ``current`` (a run
        that fell behind past the whole fault phase applies none)."""
        if step.action == FAULTS_ON and current and not self.faults_on \
                and self.measurements.fault_started is None:
            self.set_faults(True)
            self.measurements.fault_started = time.time()
        elif step.action == FAULTS_OFF and self.faults_on:
            self.set_faults(False)
            self.measurements.fault_ended = time.time()

    def drain(self) -> None:
        """The load is over: members start nothing new but keep reading until every process
        reports nothing in flight (at most :data:`DRAIN_MAX_S`); then each process judges
        what is still owed or waiting (at most :data:`END_WAIT_S`)."""
        asked = time.time()
        append_command(self.rig.control_file, MemberFaultCommand(DRAIN, True))
        while time.time() - asked < DRAIN_MAX_S:
            self.rig.check_components("while draining")
            time.sleep(TICK)
            self.collect()
            if self.inflight.settled():
                break
        # Lift the drain: each process ends its history (unfinished operations, lost
        # deliveries) and says so; then Locust may stop.
        append_command(self.rig.control_file, MemberFaultCommand(DRAIN, False))
        ending = time.time()
        while time.time() - ending < END_WAIT_S and not self.inflight.all_ended():
            time.sleep(TICK / 2)
            self.collect()

    def finish_measuring(self) -> None:
        """Read the last lock reports; the target must still answer, so before teardown."""
        measurements = self.measurements
        if not measurements.run_ended:
            measurements.run_ended = time.time()
        if not measurements.run_started:
            measurements.run_started = measurements.run_ended
        try:
            measurements.lock_reports = self.locks.poll(final=True)
        except LockReportsUnavailable as exc:
            measurements.component_errors.append(str(exc))

    def execute(self) -> RunOutcome:
        failure: str | None = None
        interrupted: Interrupted | None = None
        try:
            with signals_raise():
                try:
                    self.set_up()
                    self.drive()
                except Interrupted as exc:
                    interrupted = exc
                    failure = str(exc)
                except ComponentError as exc:
                    failure = str(exc)
                finally:
                    if self.sampler is not None:
                        self.sampler.stop()
                    self.finish_measuring()
                    self.rig.teardown()
        except Interrupted as exc:  # a second signal during clean-up
            interrupted = interrupted or exc
            failure = failure or str(exc)
            self.rig.teardown()
        # The final verdict judges what the run folder recorded, read by the readers that
        # `harness report --rejudge` uses (harness.runfolder.recorded).
        measurements = self.measurements
        recorded = read_recorded(self.context(), measurements)
        self.samples = measurements.samples
        for name, check in recorded.fault_checks.items():
            self.extra[name] = check.to_dict(measurements.run_started)
            if self.progress is not None:
                print(f"[{self.label}] {check.summary()}", file=sys.stderr, flush=True)
        if failure is not None:
            measurements.component_errors.insert(0, failure)
            if measurements.run_started:  # the timeline as it went: cut short
                self.schedule = self.schedule.ended_at(
                    measurements.run_ended - measurements.run_started)
        verdict = judge(self.scenario, measurements)
        self.extra.update(self.rig.info)
        if self.rig.cleanup_errors:
            self.extra["cleanup_errors"] = list(self.rig.cleanup_errors)
        self.extra["interrupted_by"] = interrupted.signum if interrupted else None
        self.extra["schedule"] = self.schedule.to_dict()
        self.write_results(verdict)
        return RunOutcome(verdict, self.run_dir, measurements, self.extra)

    def recent_generator_lag(self) -> float | None:
        """For the progress line: the worst lag of the last 10 s, None when not measured."""
        return self.lag.recent_max_ms(time.time())

    def write_results(self, verdict: Verdict) -> None:
        self.extra["locust_outputs"] = self.folder.locust_outputs()
        write_result_json(self.run_dir, self.scenario, self.mode, verdict,
                                        self.measurements, self.extra)
        write_junit_xml(self.run_dir, f"{self.scenario.name}[{self.label}]", verdict,
                        started_at=self.measurements.run_started,
                        duration_s=self.measurements.duration_s)
        # The report and the history line are built from result.json alone; neither may
        # change the verdict, so a failure is one line on stderr.
        try:
            write_run_page(self.run_dir)
        except PageError as exc:
            print(f"harness: report.html not written: {exc}", file=sys.stderr)
        except Interrupted:
            raise  # a signal (a sweep or matrix handles it), not a bug in the report
        except Exception as exc:  # a bug in the report must not cost the run its verdict
            print(f"harness: report.html not written: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
        try:
            append_history(self.options.history_dir or self.options.results_dir, self.run_dir)
        except (OSError, RecordError) as exc:
            print(f"harness: history line not written: {exc}", file=sys.stderr)


def print_outcome(outcome: RunOutcome) -> None:
    print(format_summary_table(outcome.verdict))
    print(outcome.verdict.message)
    print(f"results: {outcome.run_dir}")
