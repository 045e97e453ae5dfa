"""Writing report files: ``report.html`` per run, ``index.html`` per matrix, and rebuilds.

Everything is drawn from ``result.json`` (and ``matrix.json`` for the index), never from the
live run, so ``python -m harness report DIR`` rebuilds exactly what a run wrote.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.pages.html import write_page
from harness.pages.index_page import INDEX_FILE_NAME, render_index
from harness.pages.model import PageError, load_run
from harness.pages.run_page import render_run_page
from harness.pages.sweep_page import write_sweep_page
from harness.runfolder import RunFolder
from harness.runfolder.folder import RESULT_FILE_NAME
from harness.sweep.document import SWEEP_FILE_NAME, SweepFileError
from harness.target import MODES

MATRIX_FILE_NAME = "matrix.json"
#: Column order of the index when ``matrix.json`` does not give one.
MODE_ORDER = MODES


def write_run_page(run_dir: str | Path) -> Path:
    """Build ``run_dir/report.html`` from ``run_dir/result.json`` and return its path.

    Raises:
        PageError: ``result.json`` is missing or malformed, or the page cannot be written.
    """
    view = load_run(run_dir)
    with warnings.catch_warnings():
        # A run that ended before load started (e.g. an unreachable target) has empty
        # charts; matplotlib's notes about that are noise next to the verdict's one line.
        warnings.filterwarnings("ignore", "Attempting to set identical low and high")
        warnings.filterwarnings("ignore", "No artists with labels found")
        page = render_run_page(view)
    return write_page(RunFolder(Path(run_dir)).report, page)


def write_index(folder: str | Path) -> Path:
    """Build ``folder/index.html`` over the run folders directly inside ``folder``.

    Raises:
        PageError: no run folder inside, a ``result.json`` or ``matrix.json`` is malformed,
            or the page cannot be written.
    """
    folder = Path(folder)
    matrix = _load_matrix(folder)
    views = [load_run(run_dir) for run_dir in run_folders(folder, matrix)]
    if not views:
        raise PageError(f"{folder}: no run folder with a {RESULT_FILE_NAME} inside")
    return write_page(folder / INDEX_FILE_NAME, render_index(views, matrix))


def rebuild(path: str | Path) -> list[Path]:
    """Rebuild the reports under ``path`` without running anything; return the files written.

    ``path`` is a run folder (has ``result.json``: its ``report.html`` is rebuilt), a sweep
    folder (has ``sweep.json``: each run's ``report.html`` and ``sweep.html``) or a matrix
    folder (has ``matrix.json`` or run folders inside: each run's ``report.html`` and the
    folder's ``index.html`` are rebuilt).

    Raises:
        PageError: ``path`` is neither, or a file in it is malformed (one line, names it).
    """
    path = Path(path)
    if not path.exists():
        raise PageError(f"{path}: no such directory")
    if not path.is_dir():
        raise PageError(f"{path}: not a directory (give a run folder or a matrix folder)")
    if RunFolder(path).result.exists():
        return [write_run_page(path)]
    if (path / SWEEP_FILE_NAME).exists():
        return _rebuild_sweep(path)
    matrix = _load_matrix(path)
    runs = run_folders(path, matrix)
    if not runs:
        raise PageError(f"{path}: neither a run folder (no {RESULT_FILE_NAME}) nor a matrix "
                          f"folder (no run folders with a {RESULT_FILE_NAME} inside)")
    written = [write_run_page(run_dir) for run_dir in runs]
    written.append(write_index(path))
    return written


def _rebuild_sweep(folder: Path) -> list[Path]:
    """A sweep folder: each run's ``report.html``, then ``sweep.html`` from ``sweep.json``."""

    written = [write_run_page(run_dir) for run_dir in run_folders(folder)]
    try:
        written.append(write_sweep_page(folder))
    except SweepFileError as exc:
        raise PageError(str(exc)) from None
    return written


def run_folders(folder: Path, matrix: Mapping[str, Any] | None = None) -> list[Path]:
    """Run folders directly inside ``folder``, in ``matrix.json`` order, else mode order."""
    found = [child for child in folder.iterdir()
             if child.is_dir() and RunFolder(child).result.is_file()]
    listed = [Path(str(row.get("run_dir", ""))).name
              for row in (matrix or {}).get("runs", []) if isinstance(row, Mapping)]

    def order(run_dir: Path) -> tuple[int, int, str]:
        name = run_dir.name
        if name in listed:
            return (0, listed.index(name), name)
        if name in MODE_ORDER:
            return (1, MODE_ORDER.index(name), name)
        return (2, 0, name)

    return sorted(found, key=order)


def _load_matrix(folder: Path) -> dict[str, Any] | None:
    path = folder / MATRIX_FILE_NAME
    if not path.exists():
        return None
    try:
        matrix = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PageError(f"{path}: cannot be read as JSON: {exc}") from None
    if not isinstance(matrix, dict) or not isinstance(matrix.get("runs", []), list):
        raise PageError(f"{path}: must be a JSON object with a 'runs' array")
    return matrix

