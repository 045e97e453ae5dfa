"""Tests for harness.reports.trend: history.jsonl lines, regression marking, the trend command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.__main__ import main
from harness.reports.trend import (
    HISTORY_FILE_NAME,
    append_history,
    compare_with_baseline,
    format_trend,
    history_entry,
    newest_fixed_regression,
    read_history,
)
from harness.runfolder.record import record_from_document


def entry(p99: float | None, mode: str = "fixed", verdict: str = "PASS",
          scenario: str = "slow-member", basis: str = "corrected", day: int = 1) -> dict[str, Any]:
    return {"date": f"2026-11-{day:02d}T03:17:00.000000Z", "mode": mode, "scenario": scenario,
            "verdict": verdict, "join_fast_p99_ms": p99, "join_fast_p99_basis": basis,
            "lock_reports": 0, "run_dir": f"run-{day}-{mode}"}


def steady(count: int, p99: float = 40.0) -> list[dict[str, Any]]:
    """``count`` fixed runs around ``p99`` ms (±10%), one a day."""
    return [entry(p99 * (0.9 + 0.02 * (i % 11)), day=i + 1) for i in range(count)]


def write_history(results: Path, entries: list[dict[str, Any]]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / HISTORY_FILE_NAME).write_text("".join(json.dumps(e) + "\n" for e in entries))


def result_document(mode: str, raw: float, corrected: float | None) -> dict[str, Any]:
    latency = {"join": {"fast": {"p99_ms": raw}}}
    return {
        "mode": mode, "scenario": {"name": "slow-member"},
        "verdict": {"status": "PASS", "message": "PASS: all 0 checks hold"}, "thresholds": [],
        "measured": {"samples": 500, "lock_reports": 2, "latency_ms": latency,
                     "latency_ms_corrected": ({"join": {"fast": {"p99_ms": corrected}}}
                                              if corrected is not None else {})},
        "timings": {"run_started_utc": "2026-11-28T11:24:07.520700Z", "duration_s": 18.1},
    }


# History lines.


def test_history_entry_holds_the_key_figures(tmp_path: Path) -> None:
    line = history_entry(record_from_document(tmp_path / "m" / "fixed",
                                              result_document("fixed", 38.2, 50.1)), tmp_path)
    assert line == {
        "date": "2026-11-28T11:24:07.520700Z", "mode": "fixed", "label": "fixed",
        "scenario": "slow-member", "verdict": "PASS", "join_fast_p99_ms": 50.1,
        "join_fast_p99_basis": "corrected",
        "join_fast_p99_raw_ms": 38.2, "join_fast_p99_corrected_ms": 50.1, "lock_reports": 2,
        "samples": 500, "duration_s": 18.1, "run_dir": "m/fixed",
    }
    raw_only = history_entry(record_from_document(Path("/elsewhere/run"),
                                                  result_document("naive", 970.9, None)),
                             tmp_path)
    assert raw_only["join_fast_p99_ms"] == 970.9 and raw_only["join_fast_p99_basis"] == "raw"
    assert raw_only["join_fast_p99_corrected_ms"] is None
    assert raw_only["run_dir"] == "/elsewhere/run"


def test_append_history_adds_one_line_per_run(tmp_path: Path) -> None:
    for index, mode in enumerate(("naive", "spawn", "fixed")):
        run_dir = tmp_path / "matrix" / mode
        run_dir.mkdir(parents=True)
        (run_dir / "result.json").write_text(json.dumps(result_document(mode, 30.0 + index,
                                                                        40.0)))
        path = append_history(tmp_path, run_dir)
    assert path == tmp_path / HISTORY_FILE_NAME
    history = read_history(path)
    assert [e["mode"] for e in history.entries] == ["naive", "spawn", "fixed"]
    assert [e["run_dir"] for e in history.entries] == ["matrix/naive", "matrix/spawn",
                                                       "matrix/fixed"]
    assert history.skipped == 0


def test_malformed_history_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE_NAME
    path.write_text(json.dumps(entry(40.0)) + "\n{half a line\n[1]\n\n" + json.dumps(entry(41.0))
                    + "\n")
    history = read_history(path)
    assert [e["join_fast_p99_ms"] for e in history.entries] == [40.0, 41.0]
    assert history.skipped == 2
    assert "2 malformed lines skipped" in format_trend(history, 10)


# Regressions.


def test_more_than_half_worse_than_the_median_is_a_regression() -> None:
    entries = [*steady(12), entry(40.0 * 1.5 + 1, day=20)]
    comparison = compare_with_baseline(entries, len(entries) - 1)
    assert comparison is not None and comparison.is_regression
    assert comparison.baseline_runs == 10
    assert newest_fixed_regression(entries) == comparison


def test_less_than_half_worse_is_not_a_regression() -> None:
    entries = [*steady(12), entry(40.0 * 1.4, day=20)]
    comparison = compare_with_baseline(entries, len(entries) - 1)
    assert comparison is not None and not comparison.is_regression
    assert newest_fixed_regression(entries) is None


def test_baseline_is_the_median_of_the_last_ten_before() -> None:
    old_and_slow = [entry(200.0, day=i + 1) for i in range(5)]
    recent = [entry(40.0, day=10 + i) for i in range(9)] + [entry(900.0, day=19)]  # one outlier
    entries = [*old_and_slow, *recent, entry(70.0, day=25)]
    comparison = compare_with_baseline(entries, len(entries) - 1)
    assert comparison is not None
    assert comparison.baseline_ms == 40.0  # the old 200 ms runs and the outlier do not count
    assert comparison.is_regression


def test_only_comparable_fixed_runs_form_the_baseline() -> None:
    noise = [entry(5.0, mode="naive"), entry(5.0, verdict="ERROR"), entry(5.0, basis="raw"),
             entry(5.0, scenario="other"), entry(None)]
    entries = [*steady(3), *noise, entry(55.0)]
    comparison = compare_with_baseline(entries, len(entries) - 1)
    assert comparison is not None and comparison.baseline_runs == 3
    assert not comparison.is_regression


def test_no_judgement_without_enough_history_or_for_other_modes() -> None:
    assert compare_with_baseline([*steady(2), entry(400.0)], 2) is None
    entries = [*steady(10), entry(4000.0, mode="naive")]
    assert compare_with_baseline(entries, len(entries) - 1) is None
    assert newest_fixed_regression(entries) is None
    errored = [*steady(10), entry(4000.0, verdict="ERROR")]
    assert newest_fixed_regression(errored) is None


def test_an_earlier_regression_does_not_count_once_a_newer_run_is_fine() -> None:
    entries = [*steady(10), entry(90.0, day=20), entry(41.0, day=21)]
    assert compare_with_baseline(entries, 10) is not None
    assert compare_with_baseline(entries, 10).is_regression  # type: ignore[union-attr]
    assert newest_fixed_regression(entries) is None


# The trend command.


def test_trend_marks_the_regression_and_exits_1(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    entries = []
    for index, fixed in enumerate(steady(11)):
        entries += [entry(900.0, mode="naive", verdict="FAIL", day=index + 1), fixed]
    entries.append(entry(75.0, day=28))
    write_history(tmp_path, entries)
    assert main(["trend", "--results-dir", str(tmp_path), "--last", "3"]) == 1
    out = capsys.readouterr().out
    naive_part, fixed_part = out.split("\nfixed (12 runs)\n")
    assert "naive (11 runs)" in naive_part and naive_part.count("run-") == 3
    assert "REGRESSION" not in naive_part
    fixed_lines = [line for line in fixed_part.splitlines() if "run-" in line]
    assert len(fixed_lines) == 3
    assert "REGRESSION +" in fixed_lines[-1] and "run-28-fixed" in fixed_lines[-1]
    assert "REGRESSION" not in "".join(fixed_lines[:-1])
    assert "newest fixed run: REGRESSION" in out


def test_trend_exits_0_without_a_regression(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_history(tmp_path, [*steady(11), entry(44.0, day=28)])
    assert main(["trend", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION" not in out and "newest fixed run: no regression" in out


def test_trend_without_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trend", "--results-dir", str(tmp_path)]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    assert main(["trend", "--results-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and len(err.splitlines()) == 1
    assert main(["trend", "--results-dir", str(tmp_path), "--last", "0"]) == 2


def test_labels_tell_external_runs_apart_in_history_and_trend(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19: runs of two servers of the user's own were all mode ``external``."""
    document = result_document("external", 30.0, None)
    line = history_entry(record_from_document(
        tmp_path / "r", {**document, "extra": {"label": "go-hub"}}), tmp_path)
    assert (line["mode"], line["label"]) == ("external", "go-hub")
    assert history_entry(record_from_document(tmp_path / "r", document),
                         tmp_path)["label"] == "external"
    results = tmp_path / "results"
    runs = [{**entry(30.0 + day, mode="external", day=day), "label": label}
            for day, label in ((1, "go-hub"), (2, "node-chat"), (3, "go-hub"))]
    write_history(results, [*runs, entry(12.0, mode="naive", day=4)])  # an old line: no label
    assert main(["trend", "--results-dir", str(results)]) == 0
    text = capsys.readouterr().out
    assert "go-hub (2 runs)" in text and "node-chat (1 run)" in text and "naive (1 run)" in text
    assert "external (" not in text
