"""Tests for harness.pages: report.html, index.html, the rebuild command, and result series.

Runs are built from realistic measurements (a naive run whose joins stall while the fault is
on and whose lockwatch reports name ``broadcast`` as the holder; spawn and fixed runs that
stay fast), written with the real ``write_result_json``, and the pages are built from that
file alone, exactly as after a real run. One integration test does a real short run.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from harness.__main__ import main
from harness.bench.short_scenario import short_slow_member
from harness.checker.verdict import judge
from harness.measure.delivery_order import DeliveryOrderCounts
from harness.measure.generator_lag import GeneratorLag, LagWindow
from harness.measure.hdr import LatencyHistogram
from harness.measure.measurements import Measurements, Sample
from harness.pages import (
    INDEX_FILE_NAME,
    REPORT_FILE_NAME,
    PageError,
    load_run,
    rebuild,
    write_index,
    write_run_page,
)
from harness.pages.charts import lock_report_bins
from harness.pages.comparison import comparison
from harness.reports.results import build_series, write_junit_xml, write_result_json
from harness.scenario import Scenario
from harness.schedule import Schedule
from harness.target import PROJECT_ROOT
from harness.thresholds.base import format_number
from lockwatch.report import Party, Report

START = 1_795_000_000.0
FAULT = (4.0, 16.0)
DURATION = 18.0
VERSIONS = {"target": "targets.roomserver (naive)", "toxiproxy": "2.12.0", "locust": "2.47.0"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def lock_report(t_s: float, duration_s: float) -> dict[str, Any]:
    """A lockwatch wait report as the naive server writes it: a join waits behind broadcast."""
    holder = Party(
        name="commands 127.0.0.1:36002", ident="task 0x7f5a70c3c880", mode="read",
        acquire_site="targets/roomserver/modes/naive.py:23 in broadcast",
        acquire_stack=["targets/roomserver/modes/naive.py:23 in broadcast "
                       "{ async with room.lock.read(): }"],
        current_stack=["targets/roomserver/connection.py:88 in Connection.deliver "
                       "{ await asyncio.wait_for(waiter, self.send_timeout) }"],
    )
    waiter = Party(
        name="commands 127.0.0.1:36052", ident="task 0x7f5a70c3d300", mode="write",
        acquire_site="targets/roomserver/server.py:187 in RoomServer._join",
        acquire_stack=["targets/roomserver/server.py:187 in RoomServer._join "
                       "{ async with room.lock.write(): }"],
    )
    return Report(kind="wait", lock="room:room-0.members", duration_s=duration_s,
                  time=START + t_s, subject=waiter, holders=[holder]).to_dict()


def measurements(stalls: bool, corrected: bool = True) -> Measurements:
    """18 s of load; with ``stalls``, fast joins take 400-950 ms while the fault is on."""
    samples = []
    result = Measurements(run_started=START, run_ended=START + DURATION,
                          fault_started=START + FAULT[0], fault_ended=START + FAULT[1])
    for index in range(72):
        t_s = index * 0.25
        in_fault = FAULT[0] <= t_s < FAULT[1]
        latency = 400.0 + (index * 37) % 550 if stalls and in_fault else 8.0 + index % 17
        samples.append(Sample(START + t_s, "join", "fast", latency, True))
        samples.append(Sample(START + t_s, "deliver", "fast", latency * 0.8, True))
        if corrected:
            result.histograms.record("join", "fast", "corrected", latency * 1.4)
        if index % 6 == 0:
            samples.append(Sample(START + t_s + 0.1, "join", "slow",
                                  520.0 if in_fault else 15.0, True))
    samples.append(Sample(START + 9.0, "join", "fast", 10_000.0, False, "connection closed"))
    result.samples = samples
    result.delivery_order = DeliveryOrderCounts(received=72, owed=72)
    result.delivery_order.kinds = {"fast": {"owed": 72, "lost": 0}}
    if stalls:
        result.lock_reports = [lock_report(FAULT[0] + 0.4 * i, 0.1 + 0.05 * i) for i in range(20)]
    return result


def write_run(directory: Path, scenario: Scenario, mode: str, stalls: bool,
              corrected: bool = True) -> Path:
    """A run folder with result.json and junit.xml, as a real run leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    measured = measurements(stalls, corrected)
    verdict = judge(scenario, measured)
    versions = {**VERSIONS, "target": f"targets.roomserver ({mode})"}
    write_result_json(directory, scenario, mode, verdict, measured,
                      {"run_id": mode, "versions": versions,
                       "toxiproxy_url": "http://127.0.0.1:8474"})
    write_junit_xml(directory, f"{scenario.name}[{mode}]", verdict)
    return directory


def write_matrix(folder: Path, scenario: Scenario) -> Path:
    runs = []
    for mode, stalls, expected in (("naive", True, "FAIL"), ("spawn", False, "PASS"),
                                   ("fixed", False, "PASS")):
        run_dir = write_run(folder / mode, scenario, mode, stalls)
        status = json.loads((run_dir / "result.json").read_text())["verdict"]["status"]
        runs.append({"mode": mode, "expected": expected, "verdict": status,
                     "held": status == expected, "message": "", "run_dir": str(run_dir)})
    (folder / "matrix.json").write_text(json.dumps({"scenario": scenario.name, "runs": runs,
                                                    "all_held": True}))
    return folder


class Links(HTMLParser):
    """Collects every src and href and the tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append((tag, name, value or ""))


def parse(page: str) -> Links:
    links = Links()
    links.feed(page)
    return links


def assert_self_contained(page: str, folder: Path) -> None:
    """No URL of any scheme but data:, nothing loaded, links only to files in ``folder``."""
    assert "http://" not in page and "https://" not in page
    links = parse(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(links.tags)
    assert "@import" not in page and "url(" not in page
    for tag, name, url in links.urls:
        if name == "src":
            assert url.startswith("data:image/png;base64,"), (tag, url[:40])
        else:
            assert ":" not in url and not url.startswith("/"), url
            assert (folder / url).is_file(), url


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in
            re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


# The run page.


def test_report_is_one_self_contained_file_with_verdict_and_charts(
    tmp_path: Path, scenario: Scenario
) -> None:
    run_dir = write_run(tmp_path / "naive", scenario, "naive", stalls=True)
    path = write_run_page(run_dir)
    assert path == run_dir / REPORT_FILE_NAME
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page, run_dir)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["verdict"]["status"] == "FAIL"
    assert 'class="banner fail"' in page and ">FAIL<" in page
    assert result["verdict"]["message"].split(";")[0].replace(">", "&gt;") in page.replace(
        "&lt;", "<")
    pngs = embedded_pngs(page)
    # join latency, delivery latency, failed operations (one join timed out), lock reports,
    # reported durations
    assert len(pngs) == 5
    assert all(png.startswith(PNG_SIGNATURE) and len(png) > 5000 for png in pngs)


def test_thresholds_table_shows_limit_measured_and_status(
    tmp_path: Path, scenario: Scenario
) -> None:
    run_dir = write_run(tmp_path / "naive", scenario, "naive", stalls=True)
    page = write_run_page(run_dir).read_text()
    thresholds = json.loads((run_dir / "result.json").read_text())["thresholds"]
    table = page.split("<h2>Thresholds</h2>")[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == len(thresholds) == 5
    for row, threshold in zip(rows, thresholds, strict=True):
        assert threshold["subject"] in row
        assert f"{threshold['operator']} ".replace("<", "&lt;") in row
        expected_status = {"holding": "holding", "broken": "broken",
                           "no_data": "no data"}[threshold["status"]]
        assert f">{expected_status}</span>" in row
    join = next(t for t in thresholds if t["subject"] == "join[fast].p99")
    assert join["status"] == "broken"
    assert f">{format_number(join['measured'])} ms<" in rows[0]


def test_lock_reports_are_collapsible_with_their_stacks(tmp_path: Path, scenario: Scenario
                                                         ) -> None:
    page = write_run_page(write_run(tmp_path / "naive", scenario, "naive", stalls=True)
                        ).read_text()
    section = page.split("<h2>Lock reports (20)</h2>")[1].split("<h2>")[0]
    assert section.count("<details>") == 1 + 1 + 20  # group's longest, the list, each report
    assert "targets/roomserver/modes/naive.py:23 in broadcast" in section
    assert "RoomServer._join" in section
    assert "POTENTIAL DEADLOCK" in section  # the go-deadlock-style rendering of the stacks
    assert "Connection.deliver" in section  # what the holder is doing now


def test_scenario_and_versions_are_shown(tmp_path: Path, scenario: Scenario) -> None:
    page = write_run_page(write_run(tmp_path / "fixed", scenario, "fixed", stalls=False)
                        ).read_text()
    assert ">PASS<" in page and 'class="banner pass"' in page
    assert "targets.roomserver (fixed)" in page and "2.12.0" in page and "2.47.0" in page
    assert "load.members" in page and f">{scenario.load.members}<" in page
    assert "No lock reports" in page


def test_raw_and_corrected_latency_side_by_side(tmp_path: Path, scenario: Scenario) -> None:
    run_dir = write_run(tmp_path / "naive", scenario, "naive", stalls=True)
    page = write_run_page(run_dir).read_text()
    measured = json.loads((run_dir / "result.json").read_text())["measured"]
    raw = measured["latency_ms"]["join"]["fast"]["p99_ms"]
    corrected = measured["latency_ms_corrected"]["join"]["fast"]["p99_ms"]
    assert corrected > raw
    row = page.split("<code>join[fast]</code>")[1].split("</tr>")[0]
    raw_text, corrected_text = f">{format_number(raw)}<", f">{format_number(corrected)}<"
    assert raw_text in row and corrected_text in row
    assert row.index(raw_text) < row.index(corrected_text)


def test_missing_corrected_figures_show_as_n_a(tmp_path: Path, scenario: Scenario) -> None:
    run_dir = write_run(tmp_path / "naive", scenario, "naive", stalls=True, corrected=False)
    result = json.loads((run_dir / "result.json").read_text())
    del result["measured"]["latency_ms_corrected"]
    (run_dir / "result.json").write_text(json.dumps(result))
    page = write_run_page(run_dir).read_text()
    row = page.split("<code>join[fast]</code>")[1].split("</tr>")[0]
    assert row.count('<span class="na">n/a</span>') == 4
    assert "no coordinated-omission corrected figures" in page


def test_a_result_without_series_still_gets_a_report(tmp_path: Path, scenario: Scenario
                                                     ) -> None:
    run_dir = write_run(tmp_path / "old", scenario, "naive", stalls=True)
    result = json.loads((run_dir / "result.json").read_text())
    del result["series"]
    (run_dir / "result.json").write_text(json.dumps(result))
    page = write_run_page(run_dir).read_text()
    assert len(embedded_pngs(page)) == 4  # joins, deliveries, lock reports, durations: empty
    assert ">FAIL<" in page


# The series in result.json.


def test_series_holds_joins_lock_reports_and_fault_window_relative_to_start() -> None:
    measured = measurements(stalls=True)
    measured.lock_reports.append({"kind": "hold", "lock": "x"})  # no time: left out
    series = build_series(measured)
    joins = [s for s in measured.samples if s.op == "join"]
    assert len(series["join"]) == len(joins)
    assert series["origin"] == START
    assert series["duration_s"] == DURATION
    assert series["fault_window_s"] == list(FAULT)
    assert [9.0, 10_000.0, "fast", False, None] in series["join"]
    assert series["join"] == sorted(series["join"], key=lambda point: point[0])
    assert {point[2] for point in series["join"]} == {"fast", "slow"}
    assert len(series["lock_reports"]) == 20
    assert series["lock_reports"][0] == [4.0, "wait"]
    json.dumps(series, allow_nan=False)


def test_series_carries_corrected_join_latency() -> None:
    measured = Measurements(samples=[
        Sample(START + 1, "join", "fast", 12.0, True, None, 850.0),
        Sample(START + 2, "join", "fast", 9.0, True),
    ], run_started=START, run_ended=START + DURATION)
    series = build_series(measured)
    assert series["join"] == [[1.0, 12.0, "fast", True, 850.0], [2.0, 9.0, "fast", True, None]]


def test_series_fault_window_ends_at_run_end_when_faults_never_came_off() -> None:
    measured = measurements(stalls=False)
    measured.fault_ended = None
    assert build_series(measured)["fault_window_s"] == [FAULT[0], DURATION]
    measured.fault_started = None
    assert build_series(measured)["fault_window_s"] is None


def test_lock_report_bins_count_per_second_by_kind(tmp_path: Path, scenario: Scenario) -> None:
    series = load_run(write_run(tmp_path / "naive", scenario, "naive", stalls=True)).series
    assert series is not None
    edges, counts = lock_report_bins(series)
    assert edges[0] == 0.0 and edges[-1] == 17.0
    assert list(counts) == ["wait"]
    assert sum(counts["wait"]) == 20
    assert counts["wait"][4] == 3  # reports at 4.0, 4.4, 4.8 s
    assert counts["wait"][3] == 0


# The matrix index.


def test_index_puts_runs_side_by_side_and_links_each_report(tmp_path: Path,
                                                            scenario: Scenario) -> None:
    folder = write_matrix(tmp_path / "matrix", scenario)
    for mode in ("naive", "spawn", "fixed"):
        write_run_page(folder / mode)
    page = write_index(folder).read_text()
    assert_self_contained(page, folder)
    assert [url for _, _, url in parse(page).urls if not url.startswith("data:")] == [
        "naive/report.html", "spawn/report.html", "fixed/report.html"]
    rows = page.split("</table>")[0].split("<tr>")[2:]
    for row, (mode, verdict) in zip(rows, [("naive", "FAIL"), ("spawn", "PASS"),
                                           ("fixed", "PASS")], strict=True):
        assert f"<b>{mode}</b>" in row and f'{mode}/report.html' in row
        assert f'<span class="badge {verdict.lower()}">{verdict}</span>' in row
        assert f"<td>{verdict}</td>" in row  # expected
        assert ">holding</span>" in row  # the expectation holds
    assert "every expectation holds" in page
    assert len(embedded_pngs(page)) == 1


def test_comparison_chart_shares_y_limits_across_runs(tmp_path: Path, scenario: Scenario
                                                      ) -> None:
    folder = write_matrix(tmp_path / "matrix", scenario)
    views = [load_run(folder / mode) for mode in ("naive", "spawn", "fixed")]
    figure = comparison(views).figure
    join_axes, lock_axes = figure.axes[0:3], figure.axes[6:9]
    naive_max = max(p.latency_ms for p in views[0].series.joins)  # type: ignore[union-attr]
    for row in (join_axes, lock_axes):
        assert len({ax.get_ylim() for ax in row}) == 1
        assert len({ax.get_xlim() for ax in row}) == 1
    assert join_axes[0].get_ylim()[1] >= naive_max  # fixed is drawn on naive's scale
    assert lock_axes[2].get_ylim()[1] >= 3  # naive's peak, though fixed had no reports


# Rebuilding.


def test_rebuild_from_result_json_alone(tmp_path: Path, scenario: Scenario) -> None:
    run_dir = write_run(tmp_path / "run", scenario, "naive", stalls=True)
    lone = tmp_path / "copy"
    lone.mkdir()
    shutil.copy(run_dir / "result.json", lone / "result.json")
    assert rebuild(lone) == [lone / REPORT_FILE_NAME]
    page = (lone / REPORT_FILE_NAME).read_text()
    assert ">FAIL<" in page and len(embedded_pngs(page)) == 5
    assert_self_contained(page, lone)


def test_report_command_rebuilds_a_matrix_folder(tmp_path: Path, scenario: Scenario,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_matrix(tmp_path / "matrix", scenario)
    assert main(["report", str(folder)]) == 0
    written = capsys.readouterr().out.splitlines()
    expected = [folder / m / REPORT_FILE_NAME for m in ("naive", "spawn", "fixed")]
    assert written == [f"wrote {path}" for path in [*expected, folder / INDEX_FILE_NAME]]
    assert all(path.is_file() for path in expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such directory"),
        ("", "neither a run folder"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "the document must be a JSON object"),
        ('{"verdict": {"status": "MAYBE"}}', "verdict.status must be one of PASS, FAIL, ERROR"),
    ],
)
def test_report_command_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None,
                                                         message: str) -> None:
    target = tmp_path / "missing"
    if content is not None:
        target = tmp_path / "run"
        target.mkdir()
        if content:
            (target / "result.json").write_text(content)
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(target)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("harness: error: ") and message in lines[0]
    assert "Traceback" not in completed.stderr


def test_malformed_threshold_names_the_field(tmp_path: Path, scenario: Scenario) -> None:
    run_dir = write_run(tmp_path / "run", scenario, "naive", stalls=True)
    result = json.loads((run_dir / "result.json").read_text())
    result["thresholds"][1]["limit"] = "fast"
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(PageError, match=r"result\.json: thresholds\[1\]\.limit must be a "
                                          r"finite number"):
        write_run_page(run_dir)


# A real run.


SHORT_SCENARIO = short_slow_member(
    "short-report",
    target='lock_wait_threshold = "100ms"',
    jitter=None,
    thresholds="""
min_samples = 5
checks = ["join[fast].p99 < 250ms", "lock_reports == 0"]
""",
)


@pytest.mark.integration
def test_the_banner_reads_the_timeline_from_the_runs_schedule(tmp_path: Path,
                                                             scenario: Scenario) -> None:
    run_dir = write_run(tmp_path / "naive", scenario, "naive", stalls=True)
    result_file = run_dir / "result.json"
    document = json.loads(result_file.read_text())
    assert "schedule" not in document["extra"]  # like a run folder from before the schedule
    assert "warm-up 0.0" not in write_run_page(run_dir).read_text()
    early = Schedule.planned(scenario.timing, faults=True).after_early_verdict(
        scenario.timing.warmup_s + 1.5, 1.0, 1.0, member_faults_on=False)
    document["extra"]["schedule"] = early.to_dict()
    result_file.write_text(json.dumps(document))
    fault_start = scenario.timing.warmup_s
    assert (f"warm-up 0.0–{fault_start:.1f} s, fault {fault_start:.1f}–{fault_start + 1.5:.1f} "
            f"s, evidence {fault_start + 1.5:.1f}–{fault_start + 2.5:.1f} s"
            in write_run_page(run_dir).read_text())
    document["extra"]["schedule"] = [{"phase": "end"}]
    result_file.write_text(json.dumps(document))
    with pytest.raises(PageError, match="extra.schedule: not a schedule step"):
        write_run_page(run_dir)


def test_a_real_run_writes_report_and_history(tmp_path: Path) -> None:
    scenario_file = tmp_path / "short.toml"
    scenario_file.write_text(SHORT_SCENARIO)
    results = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario_file), "--mode", "fixed",
         "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    assert "not written" not in completed.stderr
    [run_dir] = [path.parent for path in results.glob("*/result.json")]
    page = (run_dir / REPORT_FILE_NAME).read_text()
    assert_self_contained(page, run_dir)
    result = json.loads((run_dir / "result.json").read_text())
    assert f">{result['verdict']['status']}<" in page
    # join and delivery latency, failed operations (when any failed), lock reports,
    # durations, generator lag, and the server's RSS and threads
    failures = 1 if result["series"]["failed_per_second"] else 0
    assert len(embedded_pngs(page)) == 6 + failures
    assert "<h2>Sampled during the run</h2>" in page
    # the server's RSS and threads, and what was in flight (how many, the oldest's age)
    assert set(result["series"]["sampled"]["points"]) == {"rss", "threads", "inflight",
                                                           "inflight_oldest_s"}
    assert result["measured"]["generator_lag"]["processes"]["local"]["count"] > 100
    assert "<h2>Load generator lag</h2>" in page
    assert result["series"]["join"] and result["series"]["fault_window_s"]
    # The timeline it carried out: the planned one (no early verdict), shown in the banner.
    schedule = Schedule.from_dict(result["extra"]["schedule"])
    assert [phase for phase, _, _ in schedule.phases()] == ["warm-up", "fault", "cool-down"]
    assert "warm-up 0.0–" in page
    [line] = (results / "history.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["mode"] == "fixed" and entry["run_dir"] == run_dir.name
    assert entry["verdict"] == result["verdict"]["status"]
    schemas = sorted((Path(__file__).parent / "data" / "junit").glob("*.xsd"))
    assert schemas
    for schema in schemas:  # the real run's junit.xml, as CI's test reporter reads it
        assert list(xmlschema.XMLSchema(str(schema)).iter_errors(str(run_dir / "junit.xml"))) == []


def test_generator_lag_is_shown_with_its_limit(tmp_path: Path, scenario: Scenario) -> None:
    """The lag of each Locust process: a figure in the banner, a chart and a table."""
    measured = measurements(stalls=True)
    windows = []
    for second in range(18):
        histogram = LatencyHistogram()
        stall = 2000.0 if second == 9 else 0.4
        for _ in range(95):
            histogram.record_corrected_ms(0.4, 10)
        histogram.record_corrected_ms(stall, 10)
        windows.append(LagWindow("local", START + second, START + second + 1, stall,
                                 histogram.encode(), cpu_warning=second == 9))
    measured.generator_lag = GeneratorLag(tuple(windows))
    verdict = judge(scenario, measured)
    # The lock reports come from the target, so the lag excuses nothing: FAIL, lag still shown.
    assert verdict.status == "FAIL" and "lock_reports = 20" in verdict.message, verdict.message
    run_dir = tmp_path / "starved"
    run_dir.mkdir()
    write_result_json(run_dir, scenario, "fixed", verdict, measured, {"run_id": "starved"})
    result = json.loads((run_dir / "result.json").read_text())
    lag = result["measured"]["generator_lag"]
    assert lag["over_limit"] and lag["limit_ms"] == 100 and lag["cpu_warning"]
    assert len(result["series"]["generator_lag"]) == 18
    assert result["series"]["generator_lag"][9] == [10.0, "local", 2000.0]
    page = write_run_page(run_dir).read_text()
    assert_self_contained(page, run_dir)
    assert f"generator lag p99 {lag['p99_ms']:.0f} ms" in page
    section = page.split("<h2>Load generator lag</h2>")[1].split("</section>")[0]
    assert 'alt="load generator lag"' in section
    assert f">{format_number(lag['p99_ms'])} ms<" in section and ">yes<" in section
    assert "Over the limit" in section
    assert len(embedded_pngs(page)) == 6  # joins, deliveries, failures, locks, durations, lag
    view = load_run(run_dir)
    assert view.series is not None and view.series.generator_lag[9] == (10.0, "local", 2000.0)


def test_a_result_without_generator_lag_has_no_lag_section(tmp_path: Path, scenario: Scenario
                                                           ) -> None:
    page = write_run_page(write_run(tmp_path / "old", scenario, "naive", stalls=True)).read_text()
    assert "Load generator lag" not in page and "generator lag p99" not in page


def test_sampled_series_are_drawn_with_the_fault_shaded_and_missing_ones_named(
    tmp_path: Path, scenario: Scenario
) -> None:
    run_dir = tmp_path / "spawn"
    run_dir.mkdir()
    measured = measurements(stalls=False)
    for index in range(36):  # every 0.5 s: pending sends pile up during the fault
        t_s = index * 0.5
        in_fault = FAULT[0] <= t_s < FAULT[1]
        measured.sampled.add("metric[roomserver_pending_sends]", START + t_s,
                             (t_s - FAULT[0]) * 300 if in_fault else 0.0)
        measured.sampled.add("rss", START + t_s, 40e6 + (t_s * 5e6 if in_fault else 0.0))
    measured.sampled.fail("threads", "target process 123 is gone")
    write_result_json(run_dir, scenario, "spawn", judge(scenario, measured), measured,
                      {"run_id": "spawn", "versions": VERSIONS})
    view = load_run(run_dir)
    assert view.series is not None
    assert view.series.sampled["rss"][0] == (0.0, 40e6)
    assert len(view.series.sampled["metric[roomserver_pending_sends]"]) == 36
    page = write_run_page(run_dir).read_text()
    section = page.split("<h2>Sampled during the run</h2>")[1].split("<h2>")[0]
    assert len(embedded_pngs(section)) == 1
    assert "<code>threads</code>: target process 123 is gone" in section
    assert len(embedded_pngs(page)) == 6  # joins, deliveries, failures, locks, durations, sampled
    # A run that sampled nothing has no such section.
    plain = write_run_page(write_run(tmp_path / "fixed", scenario, "fixed", stalls=False))
    assert "Sampled during the run" not in plain.read_text()
