"""One judgement path: the Chaos tab and a headless run judge the same samples alike.

Both build their measurements with :func:`harness.measure.measurements.live_measurements` and
evaluate the checks with :func:`harness.checker.verdict.evaluate_checks`; a run reads the corrected
join histograms the Locust master writes, the tab builds them from the samples it kept.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.checker.verdict import evaluate_checks
from harness.measure.delivery_order import OrderTail
from harness.measure.hdr import HistogramSet, write_histograms
from harness.measure.measurements import Sample, live_measurements
from harness.runfolder.folder import ORDER_FILE_NAME
from harness.thresholds import parse_check
from harness.webui.live import LiveMeasurements

CHECKS = [parse_check(text) for text in (
    "join[fast].p99 < 250ms", "deliver[fast].p99 < 250ms", "lock_reports == 0",
    "errors.ratio < 0.01",
)]
START = 1_800_000_000.0


def recorded_samples(stalled: bool) -> list[Sample]:
    """Joins (raw and corrected) and deliveries as members record them; a stall or none."""
    rng = random.Random(7)
    samples = []
    for index in range(400):
        raw = rng.uniform(2, 20)
        corrected = raw + (rng.uniform(200, 900) if stalled and index % 10 == 0 else 0.0)
        samples.append(Sample(START + index * 0.05, "join", "fast", raw, True,
                              corrected_ms=corrected))
        samples.append(Sample(START + index * 0.05, "deliver", "fast", rng.uniform(1, 9), True))
    return samples


def master_histograms(samples: list[Sample], path: Path) -> Path:
    """What the Locust master writes: raw and corrected histograms of the same samples."""
    histograms = HistogramSet()
    for sample in samples:
        histograms.record(sample.op, sample.member_kind, "raw", sample.latency_ms)
        if sample.corrected_ms is not None:
            histograms.record(sample.op, sample.member_kind, "corrected", sample.corrected_ms)
    write_histograms(path, histograms)
    return path


def tab_results(samples: list[Sample], reports: list[dict[str, object]], tmp_path: Path,
                available: bool) -> list[tuple[str, str, str]]:
    samples_file = tmp_path / "samples.jsonl"
    samples_file.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples))
    live = LiveMeasurements(CHECKS, 20, str(samples_file), lock_reports_available=available)
    live.refresh()
    live.lock_reports = list(reports)
    return [(s.check, s.status, s.measured) for s in live.thresholds()]


def run_results(samples: list[Sample], reports: list[dict[str, object]], tmp_path: Path,
                available: bool) -> list[tuple[str, str, str]]:
    measurements = live_measurements(
        samples, reports, lock_reports_available=available,
        histograms_file=master_histograms(samples, tmp_path / "histograms.json"),
        run_started=START,
    )
    return [(r.check, r.status, r.measured_text()) for r in
            evaluate_checks(CHECKS, measurements, 20)]


@pytest.mark.parametrize("stalled", [False, True], ids=["calm", "stalled"])
@pytest.mark.parametrize("available", [True, False], ids=["lock source", "no lock source"])
def test_tab_and_run_agree_on_the_same_samples(tmp_path: Path, stalled: bool,
                                               available: bool) -> None:
    samples = recorded_samples(stalled)
    reports: list[dict[str, object]] = (
        [{"kind": "wait", "lock": "room", "time": START + 5}] if stalled else [])
    tab = tab_results(samples, reports, tmp_path, available)
    run = run_results(samples, reports, tmp_path, available)
    assert [(check, status) for check, status, _ in tab] == [
        (check, status) for check, status, _ in run]
    # HdrHistograms keep 3 significant digits: the same figure, to within 0.1%.
    for (_, _, tab_text), (_, _, run_text) in zip(tab, run, strict=True):
        if tab_text.endswith(" ms"):
            assert float(tab_text[:-3]) == pytest.approx(float(run_text[:-3]), rel=1e-3)
        else:
            assert tab_text == run_text
    statuses = dict((check, status) for check, status, _ in tab)
    # Joins are judged corrected for coordinated omission in both, not raw.
    assert statuses["join[fast].p99 < 250ms"] == ("broken" if stalled else "holding")
    # Without a lock-report source the tab no longer shows "holding" on nothing.
    if not available:
        assert statuses["lock_reports == 0"] == "no_data"


@pytest.mark.parametrize("lost", [0, 3])
def test_tab_and_run_agree_on_order_and_loss(tmp_path: Path, lost: int) -> None:
    checks = [parse_check("deliver.lost == 0"), parse_check("deliver.reordered == 0")]
    samples = recorded_samples(stalled=False)
    samples_file = tmp_path / "samples.jsonl"
    samples_file.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples))
    order_file = tmp_path / ORDER_FILE_NAME  # next to the samples, as the members write it
    order_file.write_text("".join(json.dumps(
        {"time": START + second, "member_kind": "fast", "received": 40, "reordered": 0,
         "duplicated": 0, "lost": lost if second == 3 else 0}) + "\n" for second in range(5)))
    live = LiveMeasurements(checks, 20, str(samples_file))
    live.refresh()
    tab = [(s.check, s.status, s.measured) for s in live.thresholds()]
    measurements = live_measurements(samples, [], lock_reports_available=True,
                                     histograms_file=None, run_started=START,
                                     delivery_order=OrderTail(order_file).read_new())
    run = [(r.check, r.status, r.measured_text())
           for r in evaluate_checks(checks, measurements, 20)]
    assert tab == run
    assert run[0] == ("deliver.lost == 0", "broken" if lost else "holding", str(lost))
