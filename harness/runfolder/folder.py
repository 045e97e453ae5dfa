"""Every file name of a run folder, in one place: :class:`RunFolder`.

A run folder (``results/<run-id>/``, or ``<matrix>/<mode>/``) holds what one run recorded and
what was built from it. Writers and readers alike get a file's path from a :class:`RunFolder`
and never spell its name; a file added to the run folder is one constant and one property here.

Recorded during the run (the evidence ``harness report --rejudge`` judges again):

========================  ==================================================================
``samples.jsonl``         one line per timed operation (written by the Locust processes)
``histograms.json``       HdrHistograms of raw and corrected latency (the Locust master)
``order.jsonl``           delivery order and loss counts, per batch and member kind
``inflight.jsonl``        operations in flight, per Locust process, every 0.25 s
``lag.jsonl``             the Locust processes' own event-loop lag, per window
``series.jsonl``          sampled series: Prometheus metrics, the target's RSS and threads
``member_faults.jsonl``   what members acting out a member fault reported (stall queues)
``control.jsonl``         the commands the run sent to the members (faults on/off, drain)
``target-locks.jsonl``    lockwatch reports of the bundled target
========================  ==================================================================

Built at the end: ``result.json`` (the typed record, :mod:`harness.runfolder.record`),
``junit.xml``, ``report.html``, and after a rejudge ``rejudged.json``; logs of the children:
``target.log``, ``toxiproxy.log``, ``locust.log``; Locust's own ``locust.html`` and
``locust_*.csv``; a web UI session's ``ui.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CONTROL_FILE_NAME", "HISTOGRAMS_FILE_NAME", "INFLIGHT_FILE_NAME", "JUNIT_FILE_NAME",
    "LAG_FILE_NAME", "LOCUST_CSV_PREFIX", "LOCUST_HTML_FILE_NAME", "LOCUST_LOG_FILE_NAME",
    "MEMBER_FAULTS_FILE_NAME", "ORDER_FILE_NAME", "REJUDGED_FILE_NAME", "REPORT_FILE_NAME",
    "RESULT_FILE_NAME", "RunFolder", "SAMPLES_FILE_NAME", "SERIES_FILE_NAME",
    "TARGET_LOCKS_FILE_NAME", "TARGET_LOG_FILE_NAME", "TOXIPROXY_LOG_FILE_NAME",
    "UI_SESSION_FILE_NAME",
]

RESULT_FILE_NAME = "result.json"
REJUDGED_FILE_NAME = "rejudged.json"
JUNIT_FILE_NAME = "junit.xml"
REPORT_FILE_NAME = "report.html"
SAMPLES_FILE_NAME = "samples.jsonl"
HISTOGRAMS_FILE_NAME = "histograms.json"
ORDER_FILE_NAME = "order.jsonl"
INFLIGHT_FILE_NAME = "inflight.jsonl"
LAG_FILE_NAME = "lag.jsonl"
SERIES_FILE_NAME = "series.jsonl"
CONTROL_FILE_NAME = "control.jsonl"
MEMBER_FAULTS_FILE_NAME = "member_faults.jsonl"
TARGET_LOCKS_FILE_NAME = "target-locks.jsonl"
TARGET_LOG_FILE_NAME = "target.log"
TOXIPROXY_LOG_FILE_NAME = "toxiproxy.log"
LOCUST_LOG_FILE_NAME = "locust.log"
LOCUST_HTML_FILE_NAME = "locust.html"
#: Locust writes ``locust_stats.csv`` and its siblings from this prefix (``--csv``).
LOCUST_CSV_PREFIX = "locust"
UI_SESSION_FILE_NAME = "ui.json"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder's files (nothing is created or read here).

    Attributes:
        path: The run folder.
    """

    path: Path

    @classmethod
    def beside(cls, file: str | Path) -> RunFolder:
        """The run folder that holds ``file`` (a Locust process is given its samples file)."""
        return cls(Path(file).parent)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def result(self) -> Path:
        return self.path / RESULT_FILE_NAME

    @property
    def rejudged(self) -> Path:
        return self.path / REJUDGED_FILE_NAME

    @property
    def junit(self) -> Path:
        return self.path / JUNIT_FILE_NAME

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE_NAME

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES_FILE_NAME

    @property
    def histograms(self) -> Path:
        return self.path / HISTOGRAMS_FILE_NAME

    @property
    def order(self) -> Path:
        return self.path / ORDER_FILE_NAME

    @property
    def inflight(self) -> Path:
        return self.path / INFLIGHT_FILE_NAME

    @property
    def lag(self) -> Path:
        return self.path / LAG_FILE_NAME

    @property
    def series(self) -> Path:
        return self.path / SERIES_FILE_NAME

    @property
    def control(self) -> Path:
        return self.path / CONTROL_FILE_NAME

    @property
    def member_faults(self) -> Path:
        return self.path / MEMBER_FAULTS_FILE_NAME

    @property
    def target_locks(self) -> Path:
        return self.path / TARGET_LOCKS_FILE_NAME

    @property
    def target_log(self) -> Path:
        return self.path / TARGET_LOG_FILE_NAME

    @property
    def toxiproxy_log(self) -> Path:
        return self.path / TOXIPROXY_LOG_FILE_NAME

    @property
    def locust_log(self) -> Path:
        return self.path / LOCUST_LOG_FILE_NAME

    @property
    def locust_html(self) -> Path:
        return self.path / LOCUST_HTML_FILE_NAME

    @property
    def locust_csv_prefix(self) -> Path:
        return self.path / LOCUST_CSV_PREFIX

    @property
    def ui_session(self) -> Path:
        return self.path / UI_SESSION_FILE_NAME

    def locust_outputs(self) -> list[str]:
        """The names of the files Locust itself wrote here (its log, HTML and CSV files)."""
        return sorted(path.name for path in self.path.glob(f"{LOCUST_CSV_PREFIX}*")
                      if path.is_file())

    def linked_files(self) -> tuple[str, ...]:
        """The files a run page links to, in the order it lists them (those present)."""
        return tuple(name for name in (
            RESULT_FILE_NAME, JUNIT_FILE_NAME, LOCUST_HTML_FILE_NAME, SAMPLES_FILE_NAME,
            SERIES_FILE_NAME, ORDER_FILE_NAME, TARGET_LOG_FILE_NAME, TOXIPROXY_LOG_FILE_NAME,
            LOCUST_LOG_FILE_NAME) if (self.path / name).is_file())
