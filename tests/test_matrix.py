"""The matrix command: expectations per mode, and --repeat's flake count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.__main__ import _matrix_exit_code, summarize_repeats
from tests.test_chaos_run import harness, write_scenario


def row(mode: str, verdict: str, expected: str) -> dict[str, object]:
    return {"mode": mode, "verdict": verdict, "expected": expected, "held": verdict == expected}


def test_summarize_repeats_counts_changes_and_broken_expectations() -> None:
    passes = [
        [row("naive", "FAIL", "FAIL"), row("fixed", "PASS", "PASS")],
        [row("naive", "PASS", "FAIL"), row("fixed", "PASS", "PASS")],
        [row("naive", "FAIL", "FAIL"), row("fixed", "PASS", "PASS")],
    ]
    summary = summarize_repeats(passes)
    assert summary["naive"] == {"expected": "FAIL", "verdicts": {"FAIL": 2, "PASS": 1},
                                "changes": 2, "broken": 1}
    assert summary["fixed"] == {"expected": "PASS", "verdicts": {"PASS": 3},
                                "changes": 0, "broken": 0}


@pytest.mark.integration
def test_repeat_runs_the_matrix_n_times_and_reports_changes(tmp_path: Path) -> None:
    completed = harness("matrix", str(write_scenario(tmp_path, fault="3s")),
                        "--expect", "fixed=PASS", "--repeat", "2", results=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [repeat_file] = tmp_path.glob("*/repeat.json")
    report = json.loads(repeat_file.read_text())
    assert report["repeats"] == 2
    assert report["modes"]["fixed"] == {"expected": "PASS", "verdicts": {"PASS": 2},
                                        "changes": 0, "broken": 0}
    assert "repeat: 2 matrices, 0 verdict changes" in completed.stdout


def test_repeat_must_be_positive(tmp_path: Path) -> None:
    completed = harness("matrix", str(write_scenario(tmp_path)), "--repeat", "0",
                        results=tmp_path, timeout=30)
    assert completed.returncode == 2
    assert "--repeat 0 must be 1 or more" in completed.stderr


@pytest.mark.integration
def test_a_broken_expectation_exits_1(tmp_path: Path, toxiproxy_url: str) -> None:
    """naive FAILs the slow-member case; expecting PASS of it breaks the matrix: exit 1."""
    completed = harness("matrix", str(write_scenario(tmp_path, fault="3s")),
                        "--expect", "naive=PASS", "--toxiproxy-url", toxiproxy_url,
                        results=tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    [matrix_file] = tmp_path.glob("*/matrix.json")
    [row] = json.loads(matrix_file.read_text())["runs"]
    assert (row["mode"], row["verdict"], row["expected"], row["held"]) == (
        "naive", "FAIL", "PASS", False), output
    assert "an expectation is BROKEN" in completed.stdout


@pytest.mark.integration
def test_an_error_run_exits_2(tmp_path: Path, toxiproxy_url: str) -> None:
    """A run that measured too little to judge is ERROR, never PASS: the matrix exits 2."""
    scenario = write_scenario(tmp_path, fault="3s")
    text = scenario.read_text()
    assert text.count("min_samples = 10") == 1
    scenario.write_text(text.replace("min_samples = 10", "min_samples = 1000000"))
    completed = harness("matrix", str(scenario), "--expect", "fixed=PASS",
                        "--toxiproxy-url", toxiproxy_url, results=tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output
    [matrix_file] = tmp_path.glob("*/matrix.json")
    [row] = json.loads(matrix_file.read_text())["runs"]
    assert (row["mode"], row["verdict"], row["held"]) == ("fixed", "ERROR", False), output
    assert row["message"].startswith("ERROR: too few samples to judge"), row["message"]


def test_an_error_outranks_a_broken_fail_in_the_exit_code() -> None:
    rows = [row("naive", "FAIL", "PASS"), row("fixed", "ERROR", "PASS")]
    assert _matrix_exit_code(rows) == 2
    assert _matrix_exit_code(rows[:1]) == 1
    assert _matrix_exit_code([row("naive", "ERROR", "ERROR")]) == 0
