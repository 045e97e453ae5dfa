"""Tests for harness.runfolder: one owner of every run-folder file name, and its live readers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from harness.measure.generator_lag import LagTail
from harness.runfolder import RunFolder, folder
from harness.runfolder.live import RunFolderReaders
from harness.target import PROJECT_ROOT

FILE_NAMES = {value for name, value in vars(folder).items()
              if name.endswith("_FILE_NAME") and isinstance(value, str)}


def string_literals(path: Path) -> set[str]:
    """Every plain string constant of a Python file (docstrings and f-string parts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_no_module_but_the_owner_spells_a_run_folder_file_name() -> None:
    sources = [*sorted((PROJECT_ROOT / "harness").rglob("*.py")), PROJECT_ROOT / "locustfile.py",
               *sorted((PROJECT_ROOT / "targets").rglob("*.py"))]
    owner = PROJECT_ROOT / "harness" / "runfolder" / "folder.py"
    assert owner in sources and len(FILE_NAMES) >= 15
    spelled = {f"{path.relative_to(PROJECT_ROOT)}: {name}"
               for path in sources if path != owner
               for name in string_literals(path) & FILE_NAMES}
    assert spelled == set()


def test_every_file_has_its_own_name_and_path(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    paths = [getattr(run, name) for name in dir(RunFolder)
             if isinstance(getattr(RunFolder, name), property) and name != "name"]
    files = [path for path in paths if isinstance(path, Path) and path != run.locust_csv_prefix]
    assert len(files) == len(set(files)) == len(FILE_NAMES)
    assert {path.name for path in files} == FILE_NAMES
    assert all(path.parent == tmp_path for path in files)
    assert RunFolder.beside(run.samples) == run


def test_the_readers_follow_growing_files_line_by_line(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    readers = RunFolderReaders(run)
    assert readers.read_new() == []  # nothing written yet
    sample = {"time": 1.0, "op": "join", "member_kind": "fast", "latency_ms": 5.0, "ok": True}
    order = {"member_kind": "fast", "received": 3, "reordered": 1, "duplicated": 0,
             "lost": 0, "owed": 3}
    line = json.dumps(sample)
    run.samples.write_text(line + "\n" + line[:10])  # the second line is half-written
    run.order.write_text(json.dumps(order) + "\n")
    assert [s.latency_ms for s in readers.read_new()] == [5.0]
    assert readers.order.counts.reordered == 1
    with open(run.samples, "a") as samples:
        samples.write(line[10:] + "\n")
    assert len(readers.read_new()) == 1  # the line, once complete, and only once
    assert readers.read_new() == [] and readers.samples.malformed == 0
    assert readers.order.counts.received == 3  # not counted twice


def test_the_progress_lines_lag_follows_the_lag_file_and_keeps_the_last_seconds(
        tmp_path: Path) -> None:
    lag = LagTail(RunFolder(tmp_path).lag, span_s=10.0)
    assert lag.recent_max_ms(100.0) is None  # no file yet: not measured

    def window(t1: float, max_ms: float) -> str:
        return json.dumps({"process": "master", "t0": t1 - 1, "t1": t1, "max_ms": max_ms,
                           "histogram": ""})

    with open(lag.path, "a") as file:
        file.write(window(95.0, 40.0) + "\n" + window(99.0, 7.0) + "\nnot json\n"
                   + window(100.0, 9.0)[:12])  # the last line is half-written
    assert lag.recent_max_ms(100.0) == 40.0
    with open(lag.path, "a") as file:
        file.write(window(100.0, 9.0)[12:] + "\n")
    # 12 s on, the 40 ms window is older than the span; the others are read once each.
    assert lag.recent_max_ms(107.0) == 9.0
    assert len(lag.windows) == 2
    assert lag.recent_max_ms(200.0) is None
