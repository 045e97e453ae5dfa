"""Command line: ``python -m harness.bench [--only NAME] [--tiny] [--output PATH]``.

Runs the chosen benchmarks one after another, prints a table and writes the
JSON document. Exit status: 0 when every benchmark ran (whatever the figures:
goals are reported, never enforced), 1 when one could not run, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.bench import fanout, loadgen, locks, peer, scale, townhall, verdict_time
from harness.bench.result import BenchResult
from harness.bench.table import build_document, format_table, machine, now, write_document
from harness.rig.rig import Interrupted, signals_raise
from harness.target import PROJECT_ROOT

Runner = Callable[[bool, Path], BenchResult]

BENCHMARKS: dict[str, Runner] = {
    "lockwatch": lambda tiny, work: locks.run(tiny),
    "fanout": lambda tiny, work: fanout.run(tiny),
    "loadgen": lambda tiny, work: loadgen.run(tiny),
    "verdict": lambda tiny, work: verdict_time.run(tiny, work),
    "scale": lambda tiny, work: scale.run(tiny, work),
    "townhall": lambda tiny, work: townhall.run(tiny, work),
    "peer": lambda tiny, work: peer.run(tiny, work),
}


def _names(values: list[str] | None) -> list[str]:
    if not values:
        return list(BENCHMARKS)
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    return [name for name in BENCHMARKS if name in names]


def run_one(name: str, tiny: bool, work_dir: Path) -> BenchResult:
    """Run one benchmark; a crash becomes a result with ``error`` set."""
    began = time.monotonic()
    try:
        result = BENCHMARKS[name](tiny, work_dir)
    except Interrupted:
        raise  # a signal stops the whole bench, not one benchmark
    except Exception as exc:  # report it, keep going with the others
        traceback.print_exc(file=sys.stderr)
        result = BenchResult(name, "did not complete", error=f"{type(exc).__name__}: {exc}")
    result.elapsed_s = time.monotonic() - began
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench",
        description="Run the benchmarks once, side by side; print a table and write JSON. "
                    "Figures are compared with a ceiling or baseline measured in the same run.")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these (repeat or comma-separate): {', '.join(BENCHMARKS)}")
    parser.add_argument("--tiny", action="store_true",
                        help="a few seconds each, for tests; the figures mean nothing")
    parser.add_argument("--output", type=Path,
                        help="JSON file to write (default: results/bench.json, or "
                             "results/bench-tiny.json with --tiny)")
    parser.add_argument("--work-dir", type=Path,
                        help="where the verdict and scale runs put their result folders "
                             "(default: the output's folder, under bench-runs/)")
    args = parser.parse_args(argv)
    try:
        names = _names(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    output = args.output or PROJECT_ROOT / "results" / (
        "bench-tiny.json" if args.tiny else "bench.json")
    work_dir = args.work_dir or output.parent
    started, before = now(), machine()
    results = []
    try:
        # A signal between runs too must stop the children (each in its own session) before
        # the bench exits: Interrupted unwinds, and the atexit hook of harness.processes
        # stops what still runs.
        with signals_raise():
            for name in names:
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                result = run_one(name, args.tiny, work_dir)
                state = f"error: {result.error}" if result.error else "done"
                print(f"bench: {name} {state} ({result.elapsed_s:.0f} s)", file=sys.stderr,
                      flush=True)
                results.append(result)
    except Interrupted as exc:
        print(f"bench: {exc}; stopped, nothing written", file=sys.stderr, flush=True)
        return 128 + exc.signum
    document = build_document(results, started=started, finished=now(), tiny=args.tiny,
                              machine_before=before)
    write_document(output, document)
    print(format_table(results))
    load = document["machine"]
    print(f"machine: {load['cpus']} CPUs, load average {load['load_average'][0]:.2f} before, "
          f"{load['load_average_after'][0]:.2f} after; results: {output}")
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
