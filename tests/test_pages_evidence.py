"""What the pages show of a freeze and of a broken check: issue 18's pictures.

Operations still waiting when a run ended come from the load generator as samples in this
shape (the contract with the operation history)::

    {"time": <end of run>, "op": "join", "member_kind": "fast", "latency_ms": <age>,
     "ok": false, "error": "unfinished", "unfinished": true, ...}

The tests write their own samples in that shape, and their own ``inflight.jsonl`` and
``order.jsonl`` lines in the shapes the load generator writes (read back through their owners,
harness.measure.inflight and harness.measure.delivery_order). The matrix page must draw the series
behind
every check that broke, per mode (a metric, the operations in flight, the deliveries lost),
and say so honestly where nothing was recorded, old result files included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.checker.verdict import judge
from harness.measure.delivery_order import OrderTail
from harness.measure.inflight import InFlightTail, waiting_lines
from harness.measure.measurements import Measurements, Sample, read_samples_file
from harness.measure.series import SampledSeries
from harness.pages import load_run, write_index, write_run_page
from harness.pages.charts import draw_deliveries, draw_joins, draw_lost
from harness.pages.comparison import comparison, evidence_rows
from harness.pages.model import RunView
from harness.reports.results import build_series, thin_deliveries, write_result_json
from harness.runfolder.folder import INFLIGHT_FILE_NAME, ORDER_FILE_NAME, RESULT_FILE_NAME
from harness.scenario import Scenario, load_scenario

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
  "deliver[fast].lost < 0.05",
  "deliver.reordered == 0",
]
"""
#: Deliveries owed to fast members in every run of the fixture.
OWED = 200


def unfinished_line(op: str, age_ms: float, member: str = "fast-1") -> str:
    """One samples.jsonl line of an operation still waiting at the end of the run."""
    return json.dumps({"time": START + END_S, "op": op, "member_kind": "fast",
                       "latency_ms": age_ms, "ok": False, "error": "unfinished",
                       "unfinished": True, "member": member})


def scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "evidence.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return load_scenario(path)


def inflight_lines(path: Path, frozen: bool) -> None:
    """What one Locust process reports every 0.25 s: nothing waits, or (``frozen``) from 6 s
    on 4 more joins every second, none of which ever ends."""
    lines = []
    for step in range(int(END_S / 0.25)):
        t_s = step * 0.25
        started = [6.0 + k / 4 for k in range(int(max(0.0, t_s - 6.0) * 4))] if frozen else []
        ages = {("join", "fast"): [(t_s - start) * 1000 for start in started]} if started else {}
        lines.append(json.dumps({"time": START + t_s, "process": "p1",
                                 "waiting": waiting_lines(ages), "draining": False}))
    lines.append(json.dumps({"time": START + END_S, "process": "p1", "waiting": [],
                             "ended": True}))
    path.write_text("\n".join(lines) + "\n")


def order_lines(path: Path, lost: int, reordered: int) -> None:
    """The load generator's order counts: :data:`OWED` deliveries owed to fast members, the
    ``lost`` ones sent one every 0.1 s from 6 s on, judged (shipped) at the run's end."""
    sent = [[round(START + 6.0 + index * 0.1, 3), 1] for index in range(lost)]
    lines = [{"time": START + 5.0, "member_kind": "fast", "received": OWED - lost,
              "reordered": reordered, "duplicated": 0, "lost": 0, "owed": OWED - lost},
             {"time": START + END_S, "member_kind": "fast", "received": 0, "reordered": 0,
              "duplicated": 0, "lost": lost, "owed": lost, **({"lost_sent": sent} if sent else {})}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def measured(tmp_path: Path, *, frozen: bool, piling: bool, lost: int = 0,
             inflight: bool = False, reordered: int = 0) -> Measurements:
    """12 s of load. ``frozen``: joins take 400 ms once the fault is on, from 6 s on nothing
    completes, and two joins and a delivery are still waiting at the end (read back from
    samples.jsonl lines in the contract's shape). ``piling``: the pending sends climb to
    170.5 during the fault (0 otherwise). ``lost``: deliveries lost, sent from 6 s on (read
    back from order.jsonl). ``inflight``: the operations in flight recorded (read back from
    inflight.jsonl; climbing from 6 s on where ``frozen``). ``reordered``: messages counted
    reordered."""
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
        inflight_lines(tmp_path / INFLIGHT_FILE_NAME, frozen)
        tail = InFlightTail(tmp_path / INFLIGHT_FILE_NAME, record=True)
        tail.read_new()
        tail.add_series(sampled)
    order_lines(tmp_path / ORDER_FILE_NAME, lost, reordered)
    order = OrderTail(tmp_path / ORDER_FILE_NAME)
    order.read_new()
    assert order.malformed == 0
    return Measurements(samples=read.samples, run_started=START, run_ended=START + END_S,
                        fault_started=START + FAULT[0], fault_ended=START + FAULT[1],
                        sampled=sampled, delivery_order=order.counts)


def write_run(folder: Path, scenario: Scenario, mode: str, measurements: Measurements) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    verdict = judge(scenario, measurements)
    write_result_json(folder, scenario, mode, verdict, measurements, {"run_id": mode})
    return folder


def matrix(tmp_path: Path) -> list[RunView]:
    """naive froze (joins broken, operations in flight climbing, 30 deliveries lost from 6 s
    on), spawn piled up pending sends, fixed held."""
    checks = scenario(tmp_path)
    folder = tmp_path / "matrix"
    runs = {"naive": measured(tmp_path, frozen=True, piling=False, inflight=True, lost=30),
            "spawn": measured(tmp_path, frozen=False, piling=True, inflight=True),
            "fixed": measured(tmp_path, frozen=False, piling=False, inflight=True)}
    for mode, measurements in runs.items():
        write_run(folder / mode, checks, mode, measurements)
    return [load_run(folder / mode) for mode in runs]


def chart_rows(views: list[RunView]) -> tuple[list[list[Axes]], tuple[str, ...]]:
    """The comparison's panels, a list per row, and its captions."""
    chart = comparison(views)
    axes, columns = chart.figure.axes, len(views)
    return [axes[index:index + columns] for index in range(0, len(axes), columns)], chart.captions


def scatter(axes: Axes, label_start: str) -> list[tuple[float, float]]:
    """The points of the scatter whose legend label starts with ``label_start``."""
    for collection in axes.collections:
        if isinstance(collection, PathCollection) and str(
                collection.get_label()).startswith(label_start):
            return [(float(x), float(y))
                    for x, y in np.asarray(collection.get_offsets(), dtype=float)]
    return []


def points(line: Line2D) -> list[tuple[float, float]]:
    """A drawn line's points."""
    xs, ys = (np.asarray(values, dtype=float) for values in line.get_data())
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def ys(line: Line2D) -> list[float]:
    """A drawn line's values."""
    return [y for _, y in points(line)]


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
    peaks = [max((max(ys(line), default=0.0) for line in panel.get_lines()
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
    inflight = ("series:inflight", "series:inflight_oldest_s")
    assert evidence_rows(naive, join_check) == ("join", *inflight)
    errors = next(check for check in naive.checks if check.subject == "errors.ratio")
    assert evidence_rows(naive, errors) == ("failures", *inflight)


def test_the_tail_records_what_was_in_flight_over_every_process(tmp_path: Path) -> None:
    path = tmp_path / INFLIGHT_FILE_NAME
    many = waiting_lines({("deliver", "slow"): [float(age) for age in range(700)],
                          ("join", "fast"): [2500.0]})
    assert [item["count"] for item in many] == [700, 1] and len(many[0]["ages_ms"]) == 500
    lines = [{"time": 100.0, "process": "a", "waiting": []},
             {"time": 100.05, "process": "b", "waiting": []},  # one point with a's line
             {"time": 100.25, "process": "a", "waiting": many},
             {"time": 100.5, "process": "b", "waiting": [  # an older writer: no count
                 {"op": "join", "member_kind": "fast", "ages_ms": [3000.0, 20.0]}]},
             {"time": 100.75, "process": "a", "waiting": [], "ended": True}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tail = InFlightTail(path, record=True)
    tail.read_new()
    # a's 2.5 s join is 2.75 s old at 100.5; the ended line is not a point (they became
    # unfinished, they did not finish).
    assert tail.points == [(100.05, 0, 0.0), (100.25, 701, 2.5), (100.5, 703, 3.0)]
    sampled = SampledSeries()
    tail.add_series(sampled)
    assert sampled.points["inflight"][-1] == (100.5, 703.0)
    assert sampled.points["inflight_oldest_s"][-1] == (100.5, 3.0)
    following = InFlightTail(path)  # the web UI's: follows, keeps no series
    following.read_new()
    assert following.points == [] and len(following.current(now=101.0)) == 2  # b's; a ended


def test_the_matrix_draws_operations_in_flight_and_lost_deliveries_behind_broken_checks(
        tmp_path: Path) -> None:
    views = matrix(tmp_path)
    naive = views[0]
    broken = {check.subject for check in naive.checks if check.status == "broken"}
    assert {"join[fast].p99", "deliver.lost", "deliver[fast].lost"} <= broken
    rows, captions = chart_rows(views)
    [inflight] = [row for row in rows if row[0].get_ylabel() == "operations in flight"]
    [oldest] = [row for row in rows if row[0].get_ylabel() == "oldest in flight (s)"]
    [lost] = [row for row in rows if row[0].get_ylabel() == "deliveries lost (cumulative)"]
    peaks = [max(ys(line)) for row in (inflight, oldest) for panel in row
             for line in panel.get_lines() if str(line.get_label()).startswith("inflight")]
    # naive: 4 joins a second pile up from 6 s to 11.75 s; the oldest waited 5.75 s.
    assert peaks == [23.0, 0.0, 0.0, 5.75, 0.0, 0.0]
    steps = [points(line) for line in lost[0].get_lines()
             if str(line.get_label()).startswith("owed to")]
    assert len(steps) == 1 and steps[0][0] == (0.0, 0.0) and steps[0][-1] == (END_S, 30.0)
    assert steps[0][1] == (6.0, 1.0)  # the first lost message was sent at 6 s
    assert lost[0].get_legend_handles_labels()[1][-1] == "owed to fast members, lost (30)"
    for panel in lost[1:]:  # the modes that lost nothing say so
        assert "no deliveries lost" in [text.get_text() for text in panel.texts]
    assert len({panel.get_ylim() for panel in lost}) == 1
    title = lost[0].get_title(loc="left").replace("\n", " ")
    assert "broken: deliver.lost = 30 (limit == 0)" in title
    assert "broken: deliver[fast].lost = 0.15 (limit < 0.05)" in title
    assert any(caption.startswith("deliveries owed and lost so far") and
               "behind naive's deliver.lost == 0, naive's deliver[fast].lost < 0.05" in caption
               for caption in captions)
    assert any(caption.startswith("operations in flight") and "naive's join[fast].p99 < 250ms"
               in caption for caption in captions)


def test_a_broken_check_with_no_series_recorded_says_so(tmp_path: Path) -> None:
    checks = scenario(tmp_path)
    folder = tmp_path / "matrix"
    write_run(folder / "naive", checks, "naive",
              measured(tmp_path, frozen=False, piling=False, reordered=12))
    [view] = [load_run(folder / "naive")]
    reordered = next(check for check in view.checks if check.subject == "deliver.reordered")
    assert reordered.status == "broken" and evidence_rows(view, reordered) == ()
    chart = comparison([view])
    texts = [text.get_text() for axes in chart.figure.axes for text in axes.texts]
    assert "no series recorded for:\ndeliver.reordered = 12 (limit == 0)" in texts
    assert chart.captions[-1].startswith("broken checks with no series recorded")


def test_an_old_result_file_without_these_series_still_renders(tmp_path: Path) -> None:
    matrix(tmp_path)
    for mode in ("naive", "spawn", "fixed"):  # as written before lost and in flight existed
        path = tmp_path / "matrix" / mode / RESULT_FILE_NAME
        document = json.loads(path.read_text())
        del document["series"]["lost"]
        for name in ("inflight", "inflight_oldest_s"):
            del document["series"]["sampled"]["points"][name]
        path.write_text(json.dumps(document))
    views = [load_run(tmp_path / "matrix" / mode) for mode in ("naive", "spawn", "fixed")]
    assert views[0].series is not None and views[0].series.lost is None
    rows, _ = chart_rows(views)
    [lost] = [row for row in rows if row[0].get_ylabel() == "deliveries lost (cumulative)"]
    assert all("no series recorded" in [text.get_text() for text in panel.texts]
               for panel in lost)
    assert not [row for row in rows if row[0].get_ylabel() == "operations in flight"]
    assert "<img" in write_index(tmp_path / "matrix").read_text()
    page = write_run_page(tmp_path / "matrix" / "naive").read_text()
    assert "Deliveries lost over time" not in page and "Sampled during the run" in page


def test_the_run_page_draws_lost_deliveries_and_operations_in_flight(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", scenario(tmp_path), "naive",
                        measured(tmp_path, frozen=True, piling=False, inflight=True, lost=30))
    page = write_run_page(run_dir).read_text()
    assert "<h2>Deliveries lost over time</h2>" in page
    alone = Figure().add_subplot()
    draw_lost(alone, load_run(run_dir).series)
    assert alone.get_ylim() == (0.0, 33.0)  # the whole climb in view, on its own too
    assert "the operations in flight, over every Locust process" in page


def test_the_matrix_page_caption_names_every_row(tmp_path: Path) -> None:
    matrix(tmp_path)
    page = write_index(tmp_path / "matrix").read_text()
    items = re.findall(r"<li>(.*?)</li>", page.split('<ol class="note">')[1])
    assert items[0].startswith("join latency") and items[1].startswith("delivery latency")
    assert items[2].startswith("lock reports") and items[3].startswith("how long each")
    # naive broke join[fast].p99 (its operations in flight drawn) and lost deliveries, spawn
    # the metric check
    assert [item.split(" ")[0] for item in items[4:]] == ["operations", "how", "deliveries",
                                                          METRIC + ","]
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
