"""What a run recorded, read back into what its verdict judges: one table of readers.

A verdict is a judgement of what was recorded. The run's final verdict (:mod:`harness.run`)
and a judgement again from the folder (``harness report --rejudge``,
:mod:`harness.reports.rejudge`) both build their :class:`~harness.measure.measurements.Measurements`
with :func:`read_recorded`: each reader of :data:`RECORDED` reads one recorded measurement
from the run folder into them. What a reader needs to know of the run besides its files
(when it started and ended, when the faults went on and came off, its slow members, why a
sampled series has no points) is one :class:`RunContext`, built from the live
run (:meth:`ChaosRun.context <harness.run.ChaosRun.context>`) or from ``result.json``
(:meth:`RunContext.of_record`). So the same folder gives the same measurements either way, and
the same checks the same verdict. (Early verdicts, the progress line and the Chaos tab judge
while the files still grow: :func:`harness.measure.measurements.live_measurements`.)

Adding a measurement is its recorder (it writes a file of the run folder, named in
:mod:`harness.runfolder.folder`), one reader line in :data:`RECORDED`, and its threshold kind
(one file in :mod:`harness.thresholds`). The run and ``--rejudge`` then both see it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.faults import FaultCheck
from harness.measure.generator_lag import read_lag_file
from harness.measure.hdr import read_histograms
from harness.measure.measurements import Measurements, Sample
from harness.measure.sampler import read_series_file
from harness.runfolder.folder import RunFolder
from harness.runfolder.live import RunFolderReaders
from harness.runfolder.record import ResultRecord

__all__ = ["RECORDED", "Reader", "Recorded", "RunContext", "member_fault_checks",
           "read_recorded"]


@dataclass(frozen=True)
class RunContext:
    """What the readers need of a run besides its files.

    Attributes:
        readers: The readers of the folder's growing files, as far as they have read (a live
            run's have read most of them already; a folder judged again gets fresh ones),
            with the evidence of the run's member faults.
        samples_read: The samples those readers gave so far (the rest is still in the file).
        run_started: When load started (Unix seconds).
        run_ended: When it stopped.
        fault_started: When the faults went on; None: never.
        faults_lifted: When they were lifted while measured; None: never on, or still on
            when the run stopped (switched off by stopping, not lifted).
        slow_members: How many slow members acted them out.
        series_problems: Why a sampled series has no (or not every) point, by name: the
            sampler's own reasons (the series file holds only points).
    """

    readers: RunFolderReaders
    run_started: float
    run_ended: float
    fault_started: float | None = None
    faults_lifted: float | None = None
    slow_members: int = 0
    series_problems: Mapping[str, str] = field(default_factory=dict)
    samples_read: Sequence[Sample] = ()

    @property
    def folder(self) -> RunFolder:
        return self.readers.folder

    @classmethod
    def of_record(cls, record: ResultRecord) -> RunContext:
        """The context of a finished run, from its ``result.json`` (fresh readers)."""
        load = record.scenario.get("load")
        slow_members = load.get("slow_members", 0) if isinstance(load, Mapping) else 0
        # A run stopped with the faults on records their end as the run's end: never lifted.
        lifted = None if record.fault_ended == record.run_ended else record.fault_ended
        return cls(
            readers=RunFolderReaders(record.folder, record_inflight=True,
                                     member_faults=record.member_fault_kinds),
            run_started=record.run_started, run_ended=record.run_ended,
            fault_started=record.fault_started, faults_lifted=lifted,
            slow_members=int(slow_members),
            series_problems=(dict(record.series.sampled_problems)
                             if record.series is not None else {}),
        )


@dataclass
class Recorded:
    """What the readers rebuilt.

    Attributes:
        measurements: What the verdict judges.
        fault_checks: Each member fault kind's own check of what the members reported
            (:attr:`harness.faults.FaultKind.evidence`), by kind name.
    """

    measurements: Measurements
    fault_checks: dict[str, FaultCheck] = field(default_factory=dict)


def member_fault_checks(context: RunContext) -> dict[str, FaultCheck]:
    """Each member fault kind's check of what the members reported (``member_faults.jsonl``)
    and of the samples, as far as the context's readers read them, by kind name; empty
    without such a fault. The run asks this while it goes on too (a recovery may end once the
    fault cleared): the evidence grows with what the readers read, so a check costs what is
    new."""
    return {name: evidence.check(fault_started=context.fault_started,
                                 lifted_at=context.faults_lifted,
                                 slow_members=context.slow_members)
            for name, evidence in context.readers.fault_evidence.items()}


def _read_samples_and_order(context: RunContext, recorded: Recorded) -> None:
    """``samples.jsonl`` (every operation) and ``order.jsonl`` (delivery order and loss)."""
    measurements = recorded.measurements
    # The final read: the writers are done, so a last line cut short counts too.
    measurements.samples = [*context.samples_read, *context.readers.read_new(final=True)]
    measurements.delivery_order = context.readers.order.counts.copy()


def _read_histograms(context: RunContext, recorded: Recorded) -> None:
    """``histograms.json``: latency corrected for coordinated omission. Unreadable, it is a
    component error: a verdict on raw figures where corrected ones were promised would
    mislead."""
    try:
        recorded.measurements.histograms = read_histograms(context.folder.histograms)
    except ValueError as exc:
        _add_error(recorded.measurements, f"latency histograms unreadable: {exc}")


def _read_generator_lag(context: RunContext, recorded: Recorded) -> None:
    """``lag.jsonl``: the load generator's own lag over the load phase."""
    try:
        lag = read_lag_file(context.folder.lag)
        if lag is not None:
            lag = lag.within(context.run_started, context.run_ended)
            lag.per_process()  # decodes every window: a bad one is an error here
    except ValueError as exc:
        _add_error(recorded.measurements, f"generator lag unreadable: {exc}")
        return
    recorded.measurements.generator_lag = lag


def _read_sampled(context: RunContext, recorded: Recorded) -> None:
    """``series.jsonl``: metrics, RSS and threads, with why a series has no points; and
    ``inflight.jsonl``'s counts as series (no check judges them; the pages draw them)."""
    sampled = read_series_file(context.folder.series)
    for name, reason in context.series_problems.items():
        sampled.fail(name, reason)
    context.readers.inflight.add_series(sampled)
    recorded.measurements.sampled = sampled


def _read_member_faults(context: RunContext, recorded: Recorded) -> None:
    """``member_faults.jsonl``: each member fault kind's check (did a stall reach
    backpressure, did a reconnect drop). A fault that never took effect is never a PASS,
    but a broken check still FAILs (:mod:`harness.checker.verdict`)."""
    recorded.fault_checks = member_fault_checks(context)
    for check in recorded.fault_checks.values():
        recorded.measurements.fault_not_in_effect.extend(check.errors)


Reader = Callable[[RunContext, Recorded], None]
"""Reads one recorded measurement of the run in :class:`RunContext` into :class:`Recorded`."""

#: One reader per recorded measurement, in the order they are read (samples first: later
#: readers use them).
RECORDED: tuple[Reader, ...] = (
    _read_samples_and_order,
    _read_histograms,
    _read_generator_lag,
    _read_sampled,
    _read_member_faults,
)


def read_recorded(context: RunContext, measurements: Measurements) -> Recorded:
    """Read every recorded measurement (each reader of :data:`RECORDED`) into
    ``measurements``, which hold what is not in a file of the folder: the timings, the lock
    reports, the component errors, why an early verdict stopped the run."""
    recorded = Recorded(measurements)
    for read in RECORDED:
        read(context, recorded)
    return recorded


def _add_error(measurements: Measurements, error: str) -> None:
    """Add a component error unless one of its kind is there (a record judged again holds
    the errors its run found reading the same file)."""
    if not any(written.split(":")[0] == error.split(":")[0]
               for written in measurements.component_errors):
        measurements.component_errors.append(error)
