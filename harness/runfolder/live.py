"""The live readers of a run folder: they follow its growing files while the run goes on.

The Locust processes append to ``samples.jsonl``, ``order.jsonl``, ``inflight.jsonl`` and
``member_faults.jsonl``; :class:`RunFolderReaders` owns one reader per file and reads each
one's complete new lines on every :meth:`~RunFolderReaders.read_new`. The run, the web UI's
Chaos tab and ``harness report --rejudge`` (which reads each file once, to its end) use it
alike, so a file's name and its reader are chosen in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from harness.faults import FaultKind, MemberEvidence
from harness.measure.delivery_order import OrderTail
from harness.measure.inflight import InFlightTail
from harness.measure.measurements import Sample
from harness.measure.stall_evidence import MemberFaultTail
from harness.measure.tail import LineTail
from harness.runfolder.folder import RunFolder

__all__ = ["RunFolderReaders", "SampleTail"]


class SampleTail(LineTail):
    """Read the complete lines appended to a samples file since the last call."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.malformed = 0

    def read_new(self) -> list[Sample]:
        samples: list[Sample] = []
        for line in self.new_lines():
            if not line.strip():
                continue
            try:
                samples.append(Sample.from_dict(json.loads(line)))
            except ValueError:
                self.malformed += 1
        return samples


class RunFolderReaders:
    """One reader per growing file of ``folder``: samples, delivery order, operations in flight
    and, with member faults, what the members reported of them.

    Args:
        folder: The run folder.
        record_inflight: Keep the in-flight counts as a series (the run draws them; the
            Chaos tab needs only the current ones).
        member_faults: The run's member fault kinds: each one with a check keeps its
            evidence (:attr:`fault_evidence`), given every new report and sample once.
    """

    def __init__(self, folder: RunFolder, *, record_inflight: bool = False,
                 member_faults: Iterable[FaultKind] = ()) -> None:
        self.folder = folder
        self.samples = SampleTail(folder.samples)
        self.order = OrderTail(folder.order)
        self.inflight = InFlightTail(folder.inflight, record=record_inflight)
        self.member_faults = MemberFaultTail(folder.member_faults)
        #: Each member fault kind's evidence as read so far, by kind name.
        self.fault_evidence: dict[str, MemberEvidence] = {
            kind.name: kind.evidence() for kind in member_faults if kind.evidence is not None}

    def read_new(self, final: bool = False) -> list[Sample]:
        """Read every file's new complete lines; return the new samples.

        Args:
            final: Every writer is done (the final verdict, a rejudge): a last line without
                its newline is read too.
        """
        if final:
            for tail in (self.samples, self.order, self.inflight, self.member_faults):
                tail.finish()
        new = self.samples.read_new()
        self.order.read_new()
        self.inflight.read_new()
        if self.fault_evidence:  # else nothing judges the reports
            reports = self.member_faults.read_new()
            for evidence in self.fault_evidence.values():
                evidence.add(reports, new)
        return new
