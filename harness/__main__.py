"""Command line of the harness: ``python -m harness {run,matrix} ...``.

Exit codes follow the verdict: 0 PASS, 1 FAIL, 2 ERROR (and bad input),
130 or 143 when stopped by SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from .run import RunOptions, new_run_id, print_outcome, run_scenario
from .scenario import Scenario, ScenarioError, load_scenario
from .target import PROJECT_ROOT
from .toxiproxy_server import ToxiproxyNotFound, find_toxiproxy_server

MODES = ("naive", "spawn", "fixed")
DEFAULT_EXPECTATIONS = {"naive": "FAIL", "spawn": "PASS", "fixed": "PASS"}
VERDICTS = ("PASS", "FAIL", "ERROR")


class UsageError(Exception):
    """Bad flags or input: one line, exit code 2."""


def _add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario TOML file, e.g. "
                        "scenarios/slow-member.toml")
    parser.add_argument("--toxiproxy-url", metavar="URL",
                        help="use this running Toxiproxy (http://127.0.0.1:8474) instead of "
                             "starting one")
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results",
                        help="where run folders go (default: results/)")
    parser.add_argument("--quiet", action="store_true", help="no live progress lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Chaos and load tests for real-time room services: Toxiproxy slows chosen "
                    "members, Locust drives the room, and each run gets a verdict "
                    "(exit 0 PASS, 1 FAIL, 2 ERROR).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run one scenario against one target",
                              description="Run one scenario and print its verdict.")
    _add_target_flags(run)
    run.add_argument("--mode", choices=MODES, default="naive",
                     help="mode of the bundled reference server (default: naive)")
    run.add_argument("--target-url", metavar="WS_URL",
                     help="test your own server (ws://127.0.0.1:PORT/ws) instead of the bundled "
                          "one; it must speak docs/protocol.md")
    run.add_argument("--lock-reports", metavar="FILE|URL",
                     help="with --target-url: where its lock reports are (lockwatch JSONL, "
                          "go-deadlock text, or a URL answering a JSON array)")

    matrix = commands.add_parser(
        "matrix", help="run the scenario against naive, spawn and fixed; check expectations",
        description="Run the scenario in every mode and check each verdict against its "
                    "expectation. Exit 0 only when every expectation holds.")
    _add_target_flags(matrix)
    matrix.add_argument("--expect", default="naive=FAIL,spawn=PASS,fixed=PASS",
                        help="expected verdict per mode (default: %(default)s)")
    return parser


def _load(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None


def _check_toxiproxy(url: str | None) -> None:
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise UsageError(f"--toxiproxy-url {url!r} must look like http://127.0.0.1:8474")
        return
    try:
        find_toxiproxy_server(PROJECT_ROOT)
    except ToxiproxyNotFound as exc:
        raise UsageError(str(exc)) from None


def _parse_expectations(text: str) -> dict[str, str]:
    expectations: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        mode, _, verdict = item.partition("=")
        if mode not in MODES or verdict not in VERDICTS:
            raise UsageError(f"--expect item {item!r} must be MODE=VERDICT with MODE in "
                             f"{'/'.join(MODES)} and VERDICT in {'/'.join(VERDICTS)}")
        expectations[mode] = verdict
    if not expectations:
        raise UsageError("--expect names no mode; e.g. --expect naive=FAIL,fixed=PASS")
    return expectations


def command_run(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    _check_toxiproxy(args.toxiproxy_url)
    if args.lock_reports and not args.target_url:
        raise UsageError("--lock-reports goes with --target-url (the bundled server's reports "
                         "are found automatically)")
    if args.target_url:
        parts = urlsplit(args.target_url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise UsageError(f"--target-url {args.target_url!r} must look like "
                             "ws://127.0.0.1:PORT/ws")
    outcome = run_scenario(RunOptions(
        scenario=scenario,
        mode=None if args.target_url else args.mode,
        target_url=args.target_url,
        lock_reports=args.lock_reports,
        toxiproxy_url=args.toxiproxy_url,
        results_dir=args.results_dir,
        progress=not args.quiet,
    ))
    print_outcome(outcome)
    return _exit_code(outcome.exit_code, outcome.extra.get("interrupted_by"))


def command_matrix(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    _check_toxiproxy(args.toxiproxy_url)
    expectations = _parse_expectations(args.expect)
    matrix_dir = args.results_dir / new_run_id(scenario, "matrix")
    started = time.monotonic()
    rows = []
    all_held = True
    any_error = False
    for mode, expected in expectations.items():
        outcome = run_scenario(RunOptions(
            scenario=scenario, mode=mode, toxiproxy_url=args.toxiproxy_url,
            results_dir=matrix_dir, run_id=mode, progress=not args.quiet,
        ))
        status = outcome.verdict.status
        held = status == expected
        all_held &= held
        any_error |= status == "ERROR" and not held
        print(f"{mode:<6} {status:<5} expected {expected:<5} {'ok' if held else 'BROKEN':<6} "
              f"{outcome.verdict.message}", flush=True)
        rows.append({"mode": mode, "expected": expected, "verdict": status, "held": held,
                     "message": outcome.verdict.message, "run_dir": str(outcome.run_dir)})
        interrupted = outcome.extra.get("interrupted_by")
        if interrupted:
            return _exit_code(2, interrupted)
    elapsed = time.monotonic() - started
    (matrix_dir / "matrix.json").write_text(json.dumps(
        {"scenario": scenario.name, "runs": rows, "all_held": all_held,
         "wall_time_s": round(elapsed, 1)}, indent=2) + "\n")
    verdict_line = "every expectation holds" if all_held else "an expectation is BROKEN"
    print(f"matrix: {verdict_line} ({elapsed:.0f} s); results: {matrix_dir}")
    return 0 if all_held else (2 if any_error else 1)


def _exit_code(code: int, interrupted_by: int | None) -> int:
    return 128 + interrupted_by if interrupted_by else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": command_run, "matrix": command_matrix}
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
