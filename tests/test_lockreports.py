"""LockReportSource on files: a growing lockwatch JSONL file is parsed a line at a time."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.measure.lockreports import LockReportSource
from tests.test_external_target import GO_DEADLOCK_REPORT
from tests.test_report import lock_report


def line(index: int) -> str:
    return json.dumps(lock_report(index, (10 + index) / 100)) + "\n"


def test_a_growing_jsonl_file_gives_every_report_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "locks.jsonl"
    source = LockReportSource(str(path))
    assert source.fetch() == []  # no file yet: no reports yet
    path.write_text(line(0) + line(1))
    assert [r["duration_s"] for r in source.fetch()] == [0.1, 0.11]
    half = line(2)
    with path.open("a") as file:
        file.write(half[:40])  # a report being written
    assert len(source.fetch()) == 2
    with path.open("a") as file:
        file.write(half[40:] + line(3).rstrip("\n"))  # the last one without its newline yet
    assert [r["duration_s"] for r in source.fetch()] == [0.1, 0.11, 0.12, 0.13]
    with path.open("a") as file:
        file.write("\n" + line(4))
    assert [r["duration_s"] for r in source.fetch()] == [0.1, 0.11, 0.12, 0.13, 0.14]
    path.write_text(line(5))  # replaced by a shorter file: start over
    assert [r["duration_s"] for r in source.fetch()] == [0.15]


def test_go_deadlock_text_after_log_lines_is_still_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    path.write_text("2026/11/28 10:00:00 service started\n")
    source = LockReportSource(str(path))
    assert source.fetch() == []
    with path.open("a") as file:
        file.write(GO_DEADLOCK_REPORT)
    [report] = source.fetch()
    assert report["kind"] == "wait" and report["lock"] == "0xc000067810"
    assert len(source.fetch()) == 1


def test_polling_a_large_file_costs_only_the_new_lines(tmp_path: Path) -> None:
    """A naive run writes about a megabyte of reports; each poll must not parse it all."""
    path = tmp_path / "locks.jsonl"
    path.write_text("".join(line(index % 50) for index in range(1500)))
    source = LockReportSource(str(path))
    started = time.perf_counter()
    assert len(source.fetch()) == 1500
    first = time.perf_counter() - started
    with path.open("a") as file:
        file.write(line(7))
    started = time.perf_counter()
    assert len(source.fetch()) == 1501
    again = time.perf_counter() - started
    assert again < first / 5, (first, again)  # wide margin: typically 100x
