"""``results/bench.json`` and the terminal table.

The JSON document (``format_version`` :data:`FORMAT_VERSION`) holds when and
where the benchmarks ran (start and end time, CPU count, load average before and
after, package versions) and one :meth:`BenchResult.to_dict` per benchmark.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.bench.result import BenchResult, Row
from harness.runfolder.atomic import write_text_atomically

__all__ = ["FORMAT_VERSION", "build_document", "format_table", "machine", "write_document"]

FORMAT_VERSION = 1
_PACKAGES = ("locust", "websockets", "websocket-client", "gevent")


def _utc(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict[str, Any]:
    """What the figures depend on: host, CPU count, Python, load average now."""
    versions: dict[str, str | None] = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "versions": versions,
    }


def build_document(results: Sequence[BenchResult], *, started: float, finished: float,
                   tiny: bool, machine_before: dict[str, Any]) -> dict[str, Any]:
    """The whole ``bench.json`` document."""
    return {
        "format_version": FORMAT_VERSION,
        "started_utc": _utc(started),
        "finished_utc": _utc(finished),
        "elapsed_s": round(finished - started, 1),
        "tiny": tiny,
        "machine": {**machine_before,
                    "load_average_after": [round(value, 2) for value in os.getloadavg()]},
        "goals_met": {result.name: result.goals_met for result in results},
        "benchmarks": [result.to_dict() for result in results],
    }


def write_document(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return write_text_atomically(path, text)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("s", "ms"):
        return f"{value:,.1f} {unit}"
    if unit == "cores":  # CPU shares are fractions of a core
        return f"{value:,.2f} {unit}"
    return f"{value:,.0f} {unit}"


def _cells(bench: str, row: Row) -> list[str]:
    # The baseline's figure without its unit, but with the unit's precision.
    figure = _number(row.baseline_value, row.unit).removesuffix(row.unit).rstrip()
    versus = "" if row.baseline is None else f"{row.baseline} ({figure})"
    met = "" if row.met is None else ("yes" if row.met else "NO")
    return [bench, row.case, _number(row.value, row.unit), versus,
            "" if row.ratio is None else f"{row.ratio:.2f}x", row.goal or "", met]


def format_table(results: Sequence[BenchResult]) -> str:
    """All rows of all benchmarks as an aligned text table, then notes and errors."""
    header = ["bench", "case", "value", "vs (same run)", "ratio", "goal", "met"]
    lines = [header]
    for result in results:
        lines += [_cells(result.name, row) for row in result.rows]
        if result.error:
            lines.append([result.name, f"ERROR: {result.error}", "", "", "", "", ""])
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    right = {2, 4}

    def render(line: list[str]) -> str:
        return "  ".join(cell.rjust(width) if column in right else cell.ljust(width)
                         for column, (cell, width) in enumerate(zip(line, widths, strict=True))
                         ).rstrip()

    text = [render(header), render(["-" * width for width in widths])]
    text += [render(line) for line in lines[1:]]
    text.append("ratio: median of the per-round ratios (each pair measured back to back), so it "
                "can differ from value / vs when the machine is noisy")
    for result in results:
        text += [f"note ({result.name}): {note}" for note in result.notes]
    return "\n".join(text)


def now() -> float:
    """Wall clock, for the document's times."""
    return time.time()
