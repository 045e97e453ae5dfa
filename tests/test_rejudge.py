"""Tests for ``harness report --rejudge``: a run judged again from what its folder recorded.

A real run's folder judged again gives the verdict the run gave, check by check; other checks
judge the same record differently; a folder missing its data is an ERROR with one line. A run
folder kept from before the run folder had an owner (tests/data/run-folder-20261207, written
by a real run of 2026-12-07, Locust's own HTML and the rendered report left out) still renders
and judges again to its recorded verdict.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.__main__ import main
from harness.bench.short_scenario import short_slow_member
from harness.measure.measurements import Measurements
from harness.pages import write_run_page
from harness.reports.rejudge import rejudge
from harness.runfolder import RunFolder
from harness.runfolder.record import ResultRecord, load_record
from harness.runfolder.recorded import RunContext, read_recorded
from harness.target import PROJECT_ROOT

OLD_FOLDER = Path(__file__).parent / "data" / "run-folder-20261207"
#: A naive run of scenarios/stalled-member.toml (make chaos, 2026-12-07 16:43), written before
#: the stall's evidence was kept as it came in: its ``extra.stall`` is what a rejudge must give.
STALL_FOLDER = Path(__file__).parent / "data" / "stall-run-20261207"
#: Read from the target's own process (never excused by the load generator's lag): any
#: Python server's RSS is far above 1 MB, so this check is broken on every real record.
STRICT_CHECK = "rss.max < 1MB"

SCENARIO = short_slow_member(
    "rejudge",
    target='lock_wait_threshold = "100ms"',
    jitter=None,
    members=4,
    warmup="1500ms",
    fault="2s",
    cooldown="1s",
    thresholds="""
min_samples = 5
checks = ["join[fast].p99 < 250ms", "lock_reports == 0", "deliver[fast].lost < 0.01",
          "threads.max < 50"]
abort_on_fail = ["lock_reports == 0"]
""",
)


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


def same_judgement(written: ResultRecord, run_dir: Path) -> None:
    """Judged again, the record gives the verdict it was given, check by check."""
    again = rejudge(run_dir).verdict
    assert again.status == written.status
    assert again.message == written.message
    assert [(c.check, c.status, c.measured, c.samples) for c in again.check_results] == [
        (c.check, c.status, c.measured, c.samples) for c in written.checks]


@pytest.fixture(scope="module")
def naive_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real short run of the naive server: its lock reports break, and end it early."""
    folder = tmp_path_factory.mktemp("rejudge")
    scenario_file = folder / "rejudge.toml"
    scenario_file.write_text(SCENARIO)
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario_file), "--mode", "naive",
         "--results-dir", str(folder / "results"), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode in (0, 1, 2), completed.stdout + completed.stderr
    [run_dir] = [path.parent for path in (folder / "results").glob("*/result.json")]
    return run_dir


@pytest.mark.integration
def test_a_real_run_judged_again_gives_its_own_verdict(naive_run: Path) -> None:
    written = load_record(naive_run)
    assert written.status in ("FAIL", "ERROR") and written.sample_count
    same_judgement(written, naive_run)
    assert written.lock_reports_available
    # It stopped early, said why, and judged again the verdict says so too.
    assert written.stopped_early and written.stopped_early in written.message


@pytest.mark.integration
def test_a_record_from_before_stopped_early_was_kept_still_says_why(naive_run: Path,
                                                                      tmp_path: Path) -> None:
    run_dir = copy_of(naive_run, tmp_path)
    document = json.loads(RunFolder(run_dir).result.read_text())
    assert document["extra"].get("early_verdict"), "the naive run was not stopped early"
    del document["measured"]["stopped_early"]
    RunFolder(run_dir).result.write_text(json.dumps(document))
    assert "(stopped early by 'lock_reports == 0', " in rejudge(run_dir).verdict.message


@pytest.mark.integration
def test_the_command_prints_writes_and_exits_like_run(
        naive_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_of(naive_run, tmp_path)
    written = load_record(run_dir)
    assert main(["report", "--rejudge", str(run_dir)]) == written.verdict().exit_code
    out = capsys.readouterr().out
    assert written.message in out and f"wrote {RunFolder(run_dir).rejudged}" in out
    document = json.loads(RunFolder(run_dir).rejudged.read_text())
    assert document["verdict"]["message"] == written.message
    assert document["extra"]["rejudged"]["verdict_given"] == written.status
    # result.json keeps the verdict given at the time
    assert load_record(run_dir).message == written.message


@pytest.mark.integration
def test_other_checks_judge_the_same_record(naive_run: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_of(naive_run, tmp_path)
    # Only what the target itself reports: the naive server broke no thread limit.
    lenient = rejudge(run_dir, checks=["threads.max < 50"]).verdict
    assert lenient.status == "PASS", lenient.message
    assert main(["report", "--rejudge", str(run_dir), "--check", STRICT_CHECK]) == 1
    assert "FAIL: rss.max" in capsys.readouterr().out


def test_a_folder_from_before_the_change_renders_and_judges_the_same(tmp_path: Path) -> None:
    run_dir = copy_of(OLD_FOLDER, tmp_path)
    written = load_record(run_dir)
    assert written.status == "PASS" and written.stopped_early is None
    page = write_run_page(run_dir).read_text()
    assert ">PASS<" in page
    same_judgement(written, run_dir)


def test_a_stall_run_from_before_the_change_judges_its_stall_the_same(tmp_path: Path) -> None:
    run_dir = copy_of(STALL_FOLDER, tmp_path)
    written = load_record(run_dir)
    same_judgement(written, run_dir)
    recorded = read_recorded(RunContext.of_record(written), Measurements(
        run_started=written.run_started, run_ended=written.run_ended,
        fault_started=written.fault_started, fault_ended=written.fault_ended))
    stall = recorded.fault_checks["stall"].to_dict(written.run_started)
    expected = json.loads((run_dir / "result.json").read_text())["extra"]["stall"]
    assert stall == expected
    assert expected["cleared"] is True and expected["members"][0]["backpressure_s"] is not None


def test_a_stricter_check_flips_a_pass_to_fail(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_of(OLD_FOLDER, tmp_path)
    assert main(["report", "--rejudge", str(run_dir), "--check", STRICT_CHECK,
                 "--check", "lock_reports == 0"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: rss.max = " in out and "(the run's own verdict was PASS)" in out
    assert json.loads(RunFolder(run_dir).rejudged.read_text())["verdict"]["status"] == "FAIL"


def test_a_scenario_judges_by_its_own_thresholds(tmp_path: Path) -> None:
    run_dir = copy_of(OLD_FOLDER, tmp_path)
    scenario = tmp_path / "strict.toml"
    scenario.write_text(short_slow_member("strict", target="", thresholds=f"""
min_samples = 5
checks = ["{STRICT_CHECK}"]
"""))
    assert main(["report", "--rejudge", str(run_dir), "--scenario", str(scenario)]) == 1


@pytest.mark.parametrize("missing", ["samples.jsonl", "result.json"])
def test_a_folder_missing_its_data_is_an_error_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str) -> None:
    run_dir = copy_of(OLD_FOLDER, tmp_path)
    (run_dir / missing).unlink()
    assert main(["report", "--rejudge", str(run_dir)]) == 2
    captured = capsys.readouterr()
    [line] = [line for line in captured.out.splitlines() if line.startswith("ERROR")]
    assert line.startswith("ERROR: cannot judge again: ") and missing in line
    assert "Traceback" not in captured.out + captured.err


def test_bad_flags_are_one_line_and_exit_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_of(OLD_FOLDER, tmp_path)
    assert main(["report", "--rejudge", str(run_dir), "--check", "join[fast].p99 < soon"]) == 2
    assert main(["report", str(run_dir), "--check", "lock_reports == 0"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("harness: error: ") for line in lines)
    assert "--check" in lines[0] and "--rejudge" in lines[1]
