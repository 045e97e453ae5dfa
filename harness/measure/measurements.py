"""What a run measured: latency samples, lock reports, timings and component failures.

The orchestrator fills a :class:`Measurements`; thresholds and the verdict only read it.
Locust users write one :class:`Sample` per operation as a JSON line; :func:`read_samples_jsonl`
reads such a file back.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.measure.delivery_order import DeliveryOrderCounts
from harness.measure.generator_lag import GeneratorLag
from harness.measure.hdr import HistogramSet, LatencyHistogram, read_histograms
from harness.measure.inflight import Waiting
from harness.measure.series import SampledSeries

OPS: tuple[str, ...] = ("join", "broadcast", "deliver", "leave", "connect", "trigger")
"""Operations a sample can time. ``deliver`` is broadcast-sent (or push-triggered, or
push-due) to received-by-this-member; ``trigger`` is the harness's own HTTP request that makes
a server push (``[push.trigger]``), recorded as a ``fast`` sample of member ``trigger``."""

ERROR_OPS: tuple[str, ...] = ("frame",)
"""Samples that are always errors and time nothing: ``frame``, a frame the protocol could not
read. They count in ``errors.ratio`` and ``errors.count``, never in a latency."""

TIMEOUT_ERROR = "timeout"
"""How the error of an operation that waited ``[load] op_timeout`` for its reply begins."""

MEMBER_KINDS: tuple[str, ...] = ("fast", "slow")
"""``slow`` members reach the server through their own faulty proxy; ``fast`` ones do not."""


@dataclass(frozen=True)
class Sample:
    """One timed operation of one member.

    Attributes:
        time: Wall-clock time (Unix seconds) when the operation completed or failed.
        op: One of :data:`OPS`, or of :data:`ERROR_OPS` (then ``ok`` is False).
        member_kind: ``"fast"`` or ``"slow"``; for ``deliver`` it is the receiving member.
        latency_ms: How long the operation took, in milliseconds (>= 0).
        ok: False when the operation failed (timeout, error reply, dropped connection).
        error: Short description of the failure when ``ok`` is False.
        corrected_ms: For joins, the latency from the join's intended start on the
            member's fixed schedule (corrected for coordinated omission); else None.
        member: The member's name (``slow-0``, ``fast-3``) when the writer gave it; for
            ``deliver`` the receiving member.
        unfinished: The operation was still in flight when the run ended (``ok`` False,
            ``error`` ``"unfinished"``, ``time`` the run's end, ``latency_ms`` its age then:
            a lower bound, which latency checks count).
    """

    time: float
    op: str
    member_kind: str
    latency_ms: float
    ok: bool
    error: str | None = None
    corrected_ms: float | None = None
    member: str | None = None
    unfinished: bool = False

    @property
    def timed_out(self) -> bool:
        """It failed because it waited ``[load] op_timeout`` for its reply (its latency is
        that wait: a lower bound, like an unfinished one's)."""
        return not self.ok and (self.error or "").startswith(TIMEOUT_ERROR)

    def to_dict(self) -> dict[str, Any]:
        """The sample as a JSON-ready dict with exactly the dataclass fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Sample:
        """Build a sample from a decoded JSON object, validating every field.

        Unknown extra keys are ignored so writers may add context (room, user id).

        Raises:
            ValueError: a field is missing, has the wrong type, or is out of range.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        for name in ("time", "op", "member_kind", "latency_ms", "ok"):
            if name not in data:
                raise ValueError(f"missing field {name!r}")
        time = _finite_number(data["time"], "time")
        latency_ms = _finite_number(data["latency_ms"], "latency_ms")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        op = data["op"]
        if op not in OPS + ERROR_OPS:
            raise ValueError(f"op must be one of {', '.join(OPS + ERROR_OPS)}, got {op!r}")
        member_kind = data["member_kind"]
        if member_kind not in MEMBER_KINDS:
            raise ValueError(f"member_kind must be fast or slow, got {member_kind!r}")
        ok = data["ok"]
        if not isinstance(ok, bool):
            raise ValueError(f"ok must be true or false, got {ok!r}")
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise ValueError(f"error must be a string or null, got {error!r}")
        corrected = data.get("corrected_ms")
        corrected_ms = None if corrected is None else _finite_number(corrected, "corrected_ms")
        member = data.get("member")
        if member is not None and not isinstance(member, str):
            raise ValueError(f"member must be a string or null, got {member!r}")
        unfinished = data.get("unfinished", False)
        if not isinstance(unfinished, bool):
            raise ValueError(f"unfinished must be true or false, got {unfinished!r}")
        return cls(time, op, member_kind, latency_ms, ok, error, corrected_ms, member,
                   unfinished)


def _finite_number(value: Any, name: str) -> float:
    """``value`` as a float, or ValueError when it is not a finite JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


@dataclass
class Measurements:
    """Everything one run measured; filled by the orchestrator, read by thresholds.

    All times are wall-clock Unix seconds.

    Attributes:
        samples: Every timed operation, in arrival order.
        lock_reports: Lockwatch ``Report.to_dict()`` dicts (keys ``kind``, ``lock``,
            ``duration_s``, ``time``, ...).
        run_started: When load started.
        run_ended: When load stopped (equal to ``run_started`` while the run is going on).
        fault_started: When the faults were switched on, None if they never were.
        fault_ended: When the faults were switched off, None if they never were.
        component_errors: One line per broken harness component, e.g.
            ``"target exited with code -9 at 12.3s"``. Any entry makes the verdict ERROR.
        histograms: HdrHistograms merged from every Locust process, keyed
            ``op/member_kind/raw|corrected``; ``corrected`` join latency runs from each
            join's intended start (coordinated omission), see harness.loadgen.schedule.
        lock_reports_available: False when the target has no lock report source (a
            server given by URL without --lock-reports): lock_reports checks then have no
            data, rather than holding on nothing.
        stopped_early: Set when an abort-on-fail check ended the run early, e.g.
            ``"stopped early by 'lock_reports == 0', 0.8 s into the fault"``.
        generator_lag: How late the Locust processes' own event loops were during the run
            (harness.measure.generator_lag); None when it was not measured.
        sampled: Series sampled at intervals (Prometheus metrics, the target's RSS and
            threads, see harness.measure.series), with the reason for each one that has no data.
        delivery_order: Messages received, reordered, duplicated and lost over every member
            (harness.measure.delivery_order); None when not measured.
        waiting: Operations in flight right now, with their age so far (live judgements
            only; at the end they are ``unfinished`` samples instead).
        fault_not_in_effect: One line per fault that did not take effect (a stall during
            which backpressure was never reached, harness.measure.stall_evidence). Such a run never
            PASSes (ERROR instead), but a broken check still FAILs it, with these lines
            next to the failure.
    """

    samples: list[Sample] = field(default_factory=list)
    lock_reports: list[dict[str, Any]] = field(default_factory=list)
    run_started: float = 0.0
    run_ended: float = 0.0
    fault_started: float | None = None
    fault_ended: float | None = None
    component_errors: list[str] = field(default_factory=list)
    histograms: HistogramSet = field(default_factory=HistogramSet)
    stopped_early: str | None = None
    lock_reports_available: bool = True
    generator_lag: GeneratorLag | None = None
    sampled: SampledSeries = field(default_factory=SampledSeries)
    delivery_order: DeliveryOrderCounts | None = None
    fault_not_in_effect: list[str] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)

    def lower_bounds_ms(self, op: str, member_kinds: tuple[str, ...]) -> list[float]:
        """Ages (ms) of the operations of ``op`` that never completed: still in flight
        (:attr:`waiting`, live), given up after ``[load] op_timeout`` (:attr:`Sample.timed_out`)
        or ``unfinished`` at the run's end. Each is a lower bound of its latency, and latency
        checks count it as one (so a wait does not vanish from a percentile when it ends)."""
        ages = [sample.latency_ms for sample in self.samples
                if (sample.unfinished or sample.timed_out) and sample.op == op
                and sample.member_kind in member_kinds]
        ages += [item.age_ms for item in self.waiting
                 if item.op == op and item.member_kind in member_kinds]
        return ages

    def unfinished(self) -> list[Sample]:
        """The operations still in flight when the run ended."""
        return [sample for sample in self.samples if sample.unfinished]

    def corrected_latency(self, op: str, member_kinds: tuple[str, ...]) -> LatencyHistogram | None:
        """The corrected latency histogram of ``op`` over ``member_kinds``, if recorded."""
        return self.histograms.combined(op, member_kinds, "corrected")

    @property
    def duration_s(self) -> float:
        """Seconds between ``run_started`` and ``run_ended`` (never negative)."""
        return max(0.0, self.run_ended - self.run_started)


def live_measurements(
    samples: list[Sample],
    lock_reports: list[dict[str, Any]],
    *,
    lock_reports_available: bool,
    histograms_file: Path | None,
    run_started: float,
    fault_started: float | None = None,
    sampled: SampledSeries | None = None,
    delivery_order: DeliveryOrderCounts | None = None,
    waiting: list[Waiting] | None = None,
) -> Measurements:
    """What is measured so far, built the same way wherever a judgement is made while the run
    goes on.

    The early verdict, the progress line and the web UI's Chaos tab all judge what this
    returns, so they cannot disagree on the same samples (the final verdict reads the same
    files once they are complete, :mod:`harness.runfolder.recorded`): join latency
    corrected for coordinated omission from the histograms the Locust master writes, lock
    reports only where there is a source (else ``lock_reports`` checks have no data), and
    the fault's start as the end of the baseline.

    Args:
        samples: Every sample so far (the list is copied).
        lock_reports: This run's lock reports so far (copied).
        lock_reports_available: False when the target has no lock-report source.
        histograms_file: The master's histograms file. None: the corrected histograms are
            built from the samples' own ``corrected_ms`` (the Chaos tab, whose samples start
            over when a swarm starts or Locust's stats are reset, while the file does not).
        run_started: When load started.
        fault_started: When the faults went on, None while they have not.
        sampled: What the run's sampler took so far (copied); None: nothing was sampled, and
            checks on sampled series have no data.
        delivery_order: The order and loss counts so far (copied); None: not measured.
        waiting: Operations in flight now (harness.measure.inflight), counted by latency checks at
            their age.
    """
    measurements = Measurements(
        samples=list(samples), lock_reports=list(lock_reports), run_started=run_started,
        run_ended=time.time(), fault_started=fault_started,
        lock_reports_available=lock_reports_available,
        sampled=SampledSeries() if sampled is None else sampled.snapshot(),
        delivery_order=None if delivery_order is None else delivery_order.copy(),
        waiting=list(waiting or ()),
    )
    if histograms_file is None:
        for sample in samples:
            if sample.ok and sample.corrected_ms is not None:
                measurements.histograms.record(sample.op, sample.member_kind, "corrected",
                                               sample.corrected_ms)
        return measurements
    try:
        measurements.histograms = read_histograms(histograms_file)
    except ValueError:
        pass  # half-written: read again on the next call (the final read names it)
    return measurements


@dataclass(frozen=True)
class SamplesFile:
    """The result of reading a samples JSONL file.

    Attributes:
        samples: The well-formed samples, in file order.
        malformed_lines: One ``"line N: reason"`` entry per line that was skipped.
    """

    samples: list[Sample]
    malformed_lines: list[str]


def read_samples_file(path: str | Path) -> SamplesFile:
    """Read a JSONL file of samples, keeping the good lines and describing the bad ones.

    Blank lines are ignored. A line that is not a JSON object with valid :class:`Sample` fields
    (including a half-written last line) is skipped and reported in ``malformed_lines``.

    Raises:
        OSError: the file cannot be read.
    """
    samples: list[Sample] = []
    malformed_lines: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                samples.append(Sample.from_dict(json.loads(line)))
            except ValueError as problem:  # json.JSONDecodeError is a ValueError
                malformed_lines.append(f"line {line_number}: {problem}")
    return SamplesFile(samples, malformed_lines)


def read_samples_jsonl(path: str | Path) -> list[Sample]:
    """The well-formed samples of a JSONL file; malformed lines are skipped.

    Use :func:`read_samples_file` to also learn which lines were skipped and why.
    """
    return read_samples_file(path).samples
