"""The benchmarks (``python -m harness.bench``) run, in tiny form, so they cannot rot.

Each benchmark runs once with ``--tiny`` as a separate process, the way ``make
bench`` runs it. Nothing here asserts a speed: only that the output has its
structure, that the figures are sane positive numbers, and that no process is
left behind. The pure functions are tested directly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.bench.__main__ import BENCHMARKS
from harness.bench.__main__ import main as bench_main
from harness.bench.result import BenchResult, Row, median, ratio
from harness.bench.scale import expected_joins, judge_window
from harness.bench.table import format_table
from harness.bench.verdict_time import detection
from harness.measurements import Sample
from harness.runfolder.record import record_from_document
from harness.target import PROJECT_ROOT

TAG_VARIABLE = "ROOMCHAOS_BENCH_TEST_TAG"
ROW_KEYS = {"case", "value", "unit", "rounds", "baseline", "baseline_value", "ratio", "goal",
            "met"}


def run_bench(name: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run one benchmark with --tiny; return its JSON document and stdout."""
    output = tmp_path / "bench.json"
    tag = uuid.uuid4().hex
    completed = subprocess.run(
        [sys.executable, "-m", "harness.bench", "--only", name, "--tiny",
         "--output", str(output), "--work-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, TAG_VARIABLE: tag},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert_nothing_left(tag)
    return json.loads(output.read_text()), completed.stdout


def assert_nothing_left(tag: str) -> None:
    """No process that inherited the run's tag is still alive."""
    time.sleep(0.2)
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.environ().get(TAG_VARIABLE) == tag:
                left.append(" ".join(process.info["cmdline"] or []))
        except psutil.Error:
            continue
    assert not left, f"processes left behind: {left}"


def only_benchmark(document: dict[str, Any], name: str) -> dict[str, Any]:
    assert document["format_version"] == 1
    assert document["tiny"] is True
    assert document["machine"]["cpus"] >= 1
    assert len(document["machine"]["load_average_after"]) == 3
    [benchmark] = document["benchmarks"]
    assert benchmark["name"] == name
    assert benchmark["error"] is None, benchmark["error"]
    assert benchmark["elapsed_s"] > 0
    assert document["goals_met"] == {name: benchmark["goals_met"]}
    assert benchmark["rows"], "no figures"
    for row in benchmark["rows"]:
        assert set(row) == ROW_KEYS
        for key in ("value", "baseline_value", "ratio"):
            if row[key] is not None:
                assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        if row["goal"] is not None and row["value"] is not None:
            assert isinstance(row["met"], bool), row
    return benchmark  # type: ignore[no-any-return]


def rows_by_case(benchmark: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["case"]: row for row in benchmark["rows"]}


def bench_tiny(
    name: str, tmp_path: Path
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    """Run benchmark ``name`` tiny and check its JSON; its entry, its rows by case, stdout."""
    document, stdout = run_bench(name, tmp_path)
    benchmark = only_benchmark(document, name)
    return benchmark, rows_by_case(benchmark), stdout


def test_every_benchmark_has_a_test() -> None:
    tested = {"lockwatch", "fanout", "loadgen", "verdict", "scale"}
    assert set(BENCHMARKS) == tested


def test_lockwatch_tiny(tmp_path: Path) -> None:
    _, rows, stdout = bench_tiny("lockwatch", tmp_path)
    for plain in ("asyncio.Lock", "threading.Lock", "threading.RLock"):
        assert rows[plain]["value"] > 0 and rows[plain]["ratio"] is None
    for monitored in ("aio.Lock", "aio.RWLock read", "aio.RWLock write", "threads.Lock",
                      "threads.RLock", "threads.RWLock read", "threads.RWLock write"):
        on, off = rows[monitored], rows[f"{monitored} (off)"]
        assert on["baseline"] in rows and on["ratio"] > 0 and on["goal"] == "<= 1.5x"
        assert off["ratio"] > 0 and off["goal"] is None
    assert "aio.RWLock read" in stdout and "ratio" in stdout


@pytest.mark.integration
def test_fanout_tiny(tmp_path: Path) -> None:
    benchmark, rows, _ = bench_tiny("fanout", tmp_path)
    assert rows["fixed (acked)"]["value"] > 0
    assert rows["fixed (acked)"]["baseline_value"] == rows["broadcast ceiling"]["value"]
    for run in benchmark["details"]["runs"]["fixed"] + benchmark["details"]["runs"]["ceiling"]:
        assert run["delivered"] > 0 and run["client_cpu"] >= 0


@pytest.mark.integration
def test_loadgen_tiny(tmp_path: Path) -> None:
    _, rows, _ = bench_tiny("loadgen", tmp_path)
    subject = rows["Locust RoomUser"]
    assert subject["value"] > 0 and subject["ratio"] > 0 and subject["goal"] == ">= 0.7x"
    assert rows["plain loops (ceiling)"]["value"] > 0


@pytest.mark.integration
def test_verdict_tiny(tmp_path: Path) -> None:
    benchmark, rows, _ = bench_tiny("verdict", tmp_path)
    assert rows["make chaos matrix wall time"]["value"] > 0
    assert rows["matrix without early verdicts"]["value"] > 0
    assert rows["make chaos matrix wall time"]["ratio"] > 0
    assert rows["make chaos matrix wall time"]["goal"] == "<= 0.5x"
    [naive] = benchmark["details"]["runs"]
    assert naive["mode"] == "naive" and naive["duration_s"] > 0
    assert (tmp_path / "bench-runs").is_dir()


@pytest.mark.integration
def test_scale_tiny(tmp_path: Path) -> None:
    benchmark, _, _ = bench_tiny("scale", tmp_path)
    steps = benchmark["details"]["steps"]
    assert steps and steps[0]["members"] == 10
    for step in steps:
        assert step["operations"] > 0 and isinstance(step["held"], bool)
    [largest] = [row for row in benchmark["rows"] if row["case"].startswith("largest count")]
    assert largest["unit"] == "members"
    assert benchmark["goals_met"] is None  # a search, not a goal


# Pure functions.


def test_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--only", "nosuch"])
    assert exit_info.value.code == 2
    assert "unknown benchmark 'nosuch'" in capsys.readouterr().err


def test_row_goal_and_ratio() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert ratio(3.0, 2.0) == 1.5 and ratio(1.0, 0.0) is None and ratio(None, 1.0) is None
    row = Row("x", 3.0, "ns/op", baseline="y", baseline_value=2.0, ratio=1.5)
    assert row.check("<= 1.5x", lambda r: r <= 1.5).met is True
    assert Row("x", None, "ns/op").check("<= 1.5x", lambda r: r <= 1.5).met is None
    result = BenchResult("b", "t", rows=[row, Row("z", 1.0, "s").check("< 1", lambda v: v < 1,
                                                                        on_ratio=False)])
    assert result.goals_met is False
    table = format_table([result])
    assert "1.50x" in table and "NO" in table and "yes" in table


def test_detection_from_result_and_samples() -> None:
    fault = 1000.0
    def check(subject: str) -> dict[str, Any]:
        return {"check": f"{subject} < 250ms", "subject": subject, "operator": "<",
                "limit": 250.0, "measured": None, "unit": "ms", "status": "no_data"}

    document = {
        "mode": "naive", "scenario": {"name": "s"}, "measured": {"latency_ms": {}},
        "verdict": {"status": "FAIL", "message": "FAIL: lock_reports = 2 (limit == 0)"},
        "timings": {"fault_started": fault},
        "thresholds": [check("join[fast].p99"), check("deliver[fast].p99")],
        "lock_reports": [{"time": 999.0}, {"time": 1000.7}, {"time": 1001.5}],
        "extra": {"early_verdict": {"detected_at": 1002.25}},
    }
    result = record_from_document(Path("naive"), document)
    samples = [
        Sample(999.5, "join", "fast", 900.0, True),     # before the fault
        Sample(1000.9, "join", "slow", 900.0, True),    # a slow member
        Sample(1001.0, "join", "fast", 100.0, True),    # under the limit
        Sample(1001.2, "join", "fast", 300.0, True),    # the first fast join over the limit
        Sample(1000.5, "deliver", "fast", 400.0, True),
    ]
    figures = detection(result, samples)
    assert figures == {"lock_report_s": 0.7, "join_over_limit_s": 1.2,
                       "deliver_over_limit_s": 0.5, "first_evidence_s": 0.5,
                       "early_verdict_s": 2.25}
    never = record_from_document(Path("naive"), {**document, "timings": {"fault_started": None}})
    assert detection(never, samples)["first_evidence_s"] is None


def test_judge_window() -> None:
    samples = [Sample(10.0 + i / 100, "join", "fast", float(i), True) for i in range(100)]
    samples.append(Sample(5.0, "join", "fast", 5000.0, True))  # ramp-up, outside the window
    figures = judge_window(samples, 10.0, 20.0)
    assert figures["joins"] == 100 and figures["join_p99_ms"] == 98.0 and figures["held"]
    samples.append(Sample(15.0, "join", "fast", 1.0, False))
    samples.append(Sample(15.0, "leave", "fast", 1.0, False))
    assert judge_window(samples, 10.0, 20.0)["held"] is False  # 2 of 102 failed: over 1%
    assert expected_joins(300, 6) == 818  # one join per member per 2.2 s cycle
