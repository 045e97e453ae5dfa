"""What the pages show of a freeze and of a broken check: issue 18's pictures.

Operations still waiting when a run ended come from the load generator as samples in this
shape (the contract with the operation history)::

    {"time": <end of run>, "op": "join", "member_kind": "fast", "latency_ms": <age>,
     "ok": false, "error": "unfinished", "unfinished": true, ...}

The tests write their own samples in that shape. The matrix page must draw the series behind
every check that broke, per mode, and say so honestly where nothing was recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from harness.delivery_order import DeliveryOrderCounts
from harness.measurements import Measurements, Sample, read_samples_file
from harness.pages import load_run, write_index, write_run_page
from harness.pages.charts import draw_deliveries, draw_joins
from harness.pages.comparison import comparison, evidence_rows
from harness.pages.model import RunView
from harness.results import build_series, thin_deliveries, write_result_json
from harness.sampled import SampledSeries
from harness.scenario import Scenario, load_scenario
from harness.verdict import judge

START = 1_764_000_000.0
END_S = 12.0
FAULT = (3.0, 9.0)
METRIC = "metric[roomserver_pending_sends]"

SCENARIO = """
name = "evidence"
[load]
members = 4
[timing]
warmup = "3s"
fault = "6s"
cooldown = "3s"
[[faults]]
kind = "latency"
latency = "300ms"
[thresholds]
min_samples = 5
checks = [
  "join[fast].p99 < 250ms",
  "deliver[fast].p99 < 250ms",
  "lock_reports == 0",
  "metric[roomserver_pending_sends].max < 100",
  "errors.ratio < 0.05",
  "deliver.lost == 0",
]
"""


def unfinished_line(op: str, age_ms: float, member: str = "fast-1") -> str:
    """One samples.jsonl line of an operation still waiting at the end of the run."""
    return json.dumps({"time": START + END_S, "op": op, "member_kind": "fast",
                       "latency_ms": age_ms, "ok": False, "error": "unfinished",
                       "unfinished": True, "member": member})


def scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "evidence.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return load_scenario(path)


def measured(tmp_path: Path, *, frozen: bool, piling: bool, lost: int = 0,
             inflight: bool = False) -> Measurements:
    """12 s of load. ``frozen``: joins take 400 ms once the fault is on, from 6 s on nothing
    completes, and two joins and a delivery are still waiting at the end (read back from
    samples.jsonl lines in the contract's shape). ``piling``: the pending sends climb to
    170.5 during the fault (0 otherwise). ``lost``: deliveries counted lost."""
    samples = []
    for index in range(120):
        t_s = index * 0.1
        if frozen and t_s >= 6.0:
            break
        slow = frozen and FAULT[0] <= t_s  # joins slow down, then nothing completes at all
        samples.append(Sample(START + t_s, "join", "fast", 400.0 if slow else 8.0 + index % 5,
                              True))
        samples.append(Sample(START + t_s + 0.02, "deliver", "fast", 4.0 + index % 3, True))
    lines = tmp_path / "samples.jsonl"
    lines.write_text("\n".join([json.dumps(sample.to_dict()) for sample in samples]
                               + ([unfinished_line("join", 6000.0),
                                   unfinished_line("join", 5800.0, "fast-2"),
                                   unfinished_line("deliver", 5950.0)] if frozen else []))
                     + "\n")
    read = read_samples_file(lines)
    assert read.malformed_lines == []
    sampled = SampledSeries()
    for step in range(25):
        t_s = step * 0.5
        in_fault = FAULT[0] <= t_s < FAULT[1]
        sampled.add(METRIC, START + t_s, 31.0 * (t_s - FAULT[0]) if piling and in_fault else 0.0)
        if inflight:
            sampled.add("inflight", START + t_s, 3.0 * max(0.0, t_s - 6.0))
    return Measurements(samples=read.samples, run_started=START, run_ended=START + END_S,
                        fault_started=START + FAULT[0], fault_ended=START + FAULT[1],
                        sampled=sampled, delivery_order=DeliveryOrderCounts(
                            received=len(samples) // 2, lost=lost))


def write_run(folder: Path, scenario: Scenario, mode: str, measurements: Measurements) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    verdict = judge(scenario, measurements)
    write_result_json(folder, scenario, mode, verdict, measurements, {"run_id": mode})
    return folder


def matrix(tmp_path: Path) -> list[RunView]:
    """naive froze (joins broken, operations in flight climbing), spawn piled up pending sends,
    fixed held."""
    checks = scenario(tmp_path)
    folder = tmp_path / "matrix"
    runs = {"naive": measured(tmp_path, frozen=True, piling=False, inflight=True),
            "spawn": measured(tmp_path, frozen=False, piling=True),
            "fixed": measured(tmp_path, frozen=False, piling=False)}
    for mode, measurements in runs.items():
        write_run(folder / mode, checks, mode, measurements)
    return [load_run(folder / mode) for mode in runs]


def scatter(axes: Axes, label_start: str) -> list[tuple[float, float]]:
    """The points of the scatter whose legend label starts with ``label_start``."""
    for collection in axes.collections:
        if isinstance(collection, PathCollection) and str(
                collection.get_label()).startswith(label_start):
            return [(float(x), float(y)) for x, y in collection.get_offsets()]
    return []


def test_unfinished_samples_go_to_their_own_series_not_among_the_failed(tmp_path: Path) -> None:
    measurements = measured(tmp_path, frozen=True, piling=False)
    series = build_series(measurements)
    assert series["unfinished"] == [[END_S, "deliver", "fast", 5950.0],
                                    [END_S, "join", "fast", 5800.0],
                                    [END_S, "join", "fast", 6000.0]]
    assert all(point[3] for point in series["join"])  # every join drawn as a dot finished ok
    assert series["failed_per_second"] == []  # unfinished is not drawn as a failure too
    assert series["deliver_count"] == len(series["deliver"]) == 60


def test_the_latency_charts_mark_unfinished_operations_at_the_end_at_their_age(
        tmp_path: Path) -> None:
    view = write_and_load(tmp_path, frozen=True)
    joins = Figure().add_subplot()
    draw_joins(joins, view.series)
    assert sorted(scatter(joins, "unfinished at the end (2)")) == [(END_S, 5800.0),
                                                                   (END_S, 6000.0)]
    assert joins.get_ylim()[1] >= 6000.0  # the freeze is in view, not clipped
    deliveries = Figure().add_subplot()
    draw_deliveries(deliveries, view.series)
    assert scatter(deliveries, "unfinished at the end (1)") == [(END_S, 5950.0)]
    # The last finished join is at 5.9 s: the gap up to 12 s holds only the triangles.
    assert max(x for x, _ in scatter(joins, "fast members")) < 6.0


def write_and_load(tmp_path: Path, frozen: bool) -> RunView:
    run_dir = write_run(tmp_path / "run", scenario(tmp_path), "naive",
                        measured(tmp_path, frozen=frozen, piling=False))
    return load_run(run_dir)


def test_the_run_page_says_unfinished_operations_and_draws_deliveries(tmp_path: Path) -> None:
    view = write_and_load(tmp_path, frozen=True)
    page = write_run_page(view.run_dir).read_text()
    assert "<h2>Delivery latency over time</h2>" in page
    assert "red triangles at the end are joins still waiting when the run ended" in page
    assert "<b>2 joins never finished; the oldest waited 6.0 s.</b>" in page
    assert "<b>1 delivery never finished; the oldest waited 6.0 s.</b>" in page


def test_the_matrix_draws_the_series_behind_a_broken_metric_check_for_every_mode(
        tmp_path: Path) -> None:
    views = matrix(tmp_path)
    naive, spawn, fixed = views
    assert {check.subject: check.status for check in spawn.checks}[
        f"{METRIC}.max"] == "broken"
    chart = comparison(views)
    axes = chart.figure.axes
    columns = len(views)
    rows = [axes[index:index + columns] for index in range(0, len(axes), columns)]
    [metric_row] = [row for row in rows if row[0].get_ylabel().startswith("metric[")]
    peaks = [max((max(line.get_ydata(), default=0.0) for line in panel.get_lines()
                  if line.get_label() == METRIC), default=None) for panel in metric_row]
    assert peaks == [0.0, 31.0 * 5.5, 0.0]  # every mode drawn, spawn's pile-up in its column
    assert "broken: metric[roomserver_pending_sends].max = 170.5 (limit < 100)" in (
        metric_row[1].get_title(loc="left").replace("\n", " "))
    assert metric_row[0].get_title(loc="left") == metric_row[2].get_title(loc="left") == ""
    assert len({panel.get_ylim() for panel in metric_row}) == 1  # one scale for all modes
    assert any(f"{METRIC}, as the harness sampled it every 0.5 s, behind spawn's "
               f"{METRIC}.max < 100" in caption for caption in chart.captions)
    assert len(chart.captions) == len(rows)


def test_operations_in_flight_are_evidence_for_a_broken_latency_check(tmp_path: Path) -> None:
    naive = matrix(tmp_path)[0]
    join_check = next(check for check in naive.checks if check.subject == "join[fast].p99")
    assert join_check.status == "broken"  # the unfinished joins count at their age
    assert evidence_rows(naive, join_check) == ("join", "series:inflight")


def test_a_broken_check_with_no_series_recorded_says_so(tmp_path: Path) -> None:
    checks = scenario(tmp_path)
    folder = tmp_path / "matrix"
    write_run(folder / "naive", checks, "naive",
              measured(tmp_path, frozen=False, piling=False, lost=12))
    [view] = [load_run(folder / "naive")]
    lost = next(check for check in view.checks if check.subject == "deliver.lost")
    assert lost.status == "broken" and evidence_rows(view, lost) == ()
    chart = comparison([view])
    texts = [text.get_text() for axes in chart.figure.axes for text in axes.texts]
    assert "no series recorded for:\ndeliver.lost = 12 (limit == 0)" in texts
    assert chart.captions[-1].startswith("broken checks with no series recorded")


def test_the_matrix_page_caption_names_every_row(tmp_path: Path) -> None:
    matrix(tmp_path)
    page = write_index(tmp_path / "matrix").read_text()
    items = re.findall(r"<li>(.*?)</li>", page.split('<ol class="note">')[1])
    assert items[0].startswith("join latency") and items[1].startswith("delivery latency")
    assert items[2].startswith("lock reports") and items[3].startswith("how long each")
    # naive broke join[fast].p99 (its operations in flight drawn), spawn the metric check
    assert [item.split(",")[0] for item in items[4:]] == ["inflight", METRIC]
    assert "Top:" not in page and "Bottom:" not in page


def test_not_tested_shows_in_the_thresholds_table(tmp_path: Path) -> None:
    checks = scenario(tmp_path)
    refused = Measurements(
        samples=[Sample(START + 0.5 + i, "join", "fast", 2.0, False,
                        "connect ws://127.0.0.1:1/chat?room=r: Handshake status 403 Forbidden")
                 for i in range(20)],
        run_started=START, run_ended=START + END_S)
    run_dir = write_run(tmp_path / "refused", checks, "external", refused)
    view = load_run(run_dir)
    assert view.status == "ERROR"
    assert view.not_tested["join[fast].p99 < 250ms"] == (
        "every join[fast] got HTTP 403 (20 attempts, none succeeded)")
    page = write_run_page(run_dir).read_text()
    assert page.count(">not tested</span>") == 2  # the join check and errors.ratio
    assert "ERROR: the target was not tested: every join[fast] got HTTP 403" in page


def test_deliveries_are_thinned_to_the_fastest_and_slowest_per_slice() -> None:
    deliveries = [Sample(START + i * 0.001, "deliver", "fast", float(i % 50), True)
                  for i in range(20_000)]
    deliveries.append(Sample(START + 7.5, "deliver", "fast", 900.0, False, "lost"))
    thinned = thin_deliveries(deliveries, 20.0)
    assert len(thinned) <= 4000
    assert max(sample.latency_ms for sample in thinned if sample.ok) == 49.0
    assert min(sample.latency_ms for sample in thinned) == 0.0
    assert any(not sample.ok for sample in thinned)  # every failed one is kept
    assert [sample.time for sample in thinned] == sorted(sample.time for sample in thinned)
