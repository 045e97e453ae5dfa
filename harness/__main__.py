"""Command line of the harness: ``python -m harness {run,matrix,sweep,report,trend,ui} ...``.

Exit codes follow the verdict: 0 PASS, 1 FAIL, 2 ERROR (and bad input),
130 or 143 when stopped by SIGINT or SIGTERM. ``report`` exits 0, or 2 on a bad
folder (``report --rejudge`` exits like ``run``: the new verdict's code); ``trend`` exits 1
when the newest fixed run is a regression, else 0. ``sweep`` exits 0 when it found its floor
or ceiling, 1 when there is none in range, 2 on an ERROR run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness.headless.one_run import run_scenario
from harness.headless.sweep_runs import real_runner, run_sweep
from harness.net.urls import parse_toxiproxy_url
from harness.pages import PageError, rebuild, write_index
from harness.reports.batch_progress import BatchProgress
from harness.reports.rejudge import CannotRejudge, rejudge, write_rejudged
from harness.reports.results import format_summary_table
from harness.reports.trend import HistoryError, trend
from harness.rig.rig import Interrupted, OptionsError, RigOptions, new_run_id
from harness.rig.target_options import (
    add_host_flags,
    add_target_flags,
    allowed_hosts_flag,
    check_listen_hosts,
    target_rig_options,
)
from harness.run import RunOptions, print_outcome
from harness.scenario import Scenario, ScenarioError, load_scenario
from harness.sweep.axis import AxisError, check_sweepable, parse_latency_range, parse_resolution
from harness.sweep.search import DEFAULT_FIND, SweepPlan
from harness.target import DEFAULT_RESULTS_DIR, EXPECTED_VERDICTS, MODES, PROJECT_ROOT
from harness.toxiproxy.server import ToxiproxyNotFound, find_toxiproxy_server
from harness.ui import PortBusy, UiOptions
from harness.ui import add_parser as add_ui_parser
from harness.ui import serve as serve_ui

VERDICTS = ("PASS", "FAIL", "ERROR")


class UsageError(Exception):
    """Bad flags or input: one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets one line (what is wrong, where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_target_flags(parser: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        parser.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO",
                            help="scenario TOML files, e.g. scenarios/slow-member.toml "
                                 "scenarios/stalled-member.toml")
    else:
        parser.add_argument("scenario", type=Path, help="scenario TOML file, e.g. "
                            "scenarios/slow-member.toml")
    parser.add_argument("--toxiproxy-url", metavar="URL",
                        help="use this running Toxiproxy (http://127.0.0.1:8474) instead of "
                             "starting one")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="where run folders go (default: results/)")
    parser.add_argument("--quiet", action="store_true", help="no live progress lines")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="run Locust distributed: one master plus N local worker processes "
                             "(default: 0, one process)")
    parser.add_argument("--expect-workers", type=int, default=0, metavar="N",
                        help="also wait for N workers started on other machines "
                             "(locust -f locustfile.py --worker --master-host HOST "
                             "--master-port PORT); see docs/runs.md")
    parser.add_argument("--master-bind-host", default="127.0.0.1", metavar="ADDRESS",
                        help="where the Locust master listens for workers (default: 127.0.0.1; "
                             "another address must also be named with --allow-host)")
    parser.add_argument("--master-port", type=int, default=0, metavar="PORT",
                        help="the port the Locust master listens on, for a firewall rule or a "
                             "Kubernetes Service (default: a free one, printed)")
    add_host_flags(parser)
    parser.add_argument("--no-early-verdict", action="store_true",
                        help="ignore the scenario's abort_on_fail checks and run the full length")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        # The console script of `pip install .` is roomchaos; in a checkout, python -m harness.
        prog="roomchaos" if Path(sys.argv[0]).name == "roomchaos" else "python -m harness",
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
    add_target_flags(run)

    matrix = commands.add_parser(
        "matrix", help="run each scenario against naive, spawn and fixed; check expectations",
        description="Run each scenario in every mode and check each verdict against its "
                    "expectation (the scenario's [expect] table, else "
                    + ",".join(f"{m}={v}" for m, v in EXPECTED_VERDICTS.items())
                    + "). Exit 0 only when every expectation of every scenario holds; 1 when "
                      "one is broken; 2 when a run broke with ERROR.")
    _add_target_flags(matrix, many=True)
    matrix.add_argument("--expect",
                        help="expected verdict per mode for every scenario, overriding their "
                             "[expect] tables (default: each scenario's [expect], else its "
                             "bundled server's, e.g. "
                             f"{','.join(f'{m}={v}' for m, v in EXPECTED_VERDICTS.items())})")
    matrix.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the whole matrix N times and report how often each "
                             "verdict changed (flake check; default: 1)")

    sweep = commands.add_parser(
        "sweep", help="find the smallest latency at which a mode FAILs every time (or the "
                      "largest at which it still PASSes)",
        description="Sensitivity sweep: bisect the injected latency between LO and HI, run "
                    "each point N times, and write sweep.json and sweep.html. naive gets its "
                    "floor (smallest latency that FAILs N/N), spawn and fixed their ceiling "
                    "(largest latency that PASSes N/N). Monotonicity is assumed. Only "
                    "--latency exists today; a stall body-size axis comes with the stall "
                    "fault. Exit 0 found, 1 none in range, 2 an ERROR run or bad input.")
    _add_target_flags(sweep)
    sweep.add_argument("--mode", choices=MODES, default="naive",
                       help="mode of the bundled reference server (default: naive)")
    sweep.add_argument("--latency", required=True, metavar="LO..HI",
                       help="latency range set on every latency fault (jitter 0), e.g. "
                            "0ms..1s")
    sweep.add_argument("--repeat", type=int, default=3, metavar="N",
                       help="runs per point; a point counts when all N agree (default: 3)")
    sweep.add_argument("--resolution", default="5ms", metavar="DURATION",
                       help="stop when the bracket is this narrow (default: 5ms)")
    sweep.add_argument("--max-runs", type=int, metavar="K",
                       help="start at most K runs (default: what the bisection can need)")
    sweep.add_argument("--find", choices=("floor", "ceiling"),
                       help="what to seek (default: floor for naive, ceiling for spawn/fixed)")

    report = commands.add_parser(
        "report", help="rebuild report.html (and a matrix's index.html or a sweep's "
                       "sweep.html) from result.json",
        description="Rebuild the HTML reports from result.json without running anything. "
                    "Exit 0, or 2 when the folder or a result.json is unusable. With "
                    "--rejudge, judge a run folder again from what it recorded and exit like "
                    "run: 0 PASS, 1 FAIL, 2 ERROR.")
    report.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="a run folder (holds result.json), a sweep folder (holds "
                             "sweep.json: each report.html and sweep.html are rebuilt) or a "
                             "matrix folder (holds run folders): each report.html and the "
                             "index.html are rebuilt")
    report.add_argument("--rejudge", action="store_true",
                        help="judge the run folder RESULTS_DIR again from its recorded files "
                             "(samples, histograms, order, lag, series, lock reports in "
                             "result.json); print the verdict and write rejudged.json")
    report.add_argument("--check", action="append", default=[], metavar="CHECK",
                        help="with --rejudge: judge by this check instead of the recorded "
                             "ones (repeatable), e.g. --check 'join[fast].p99 < 100ms'")
    report.add_argument("--scenario", type=Path, metavar="SCENARIO",
                        help="with --rejudge: judge by this scenario's [thresholds] instead "
                             "of the recorded ones")

    trend_parser = commands.add_parser(
        "trend", help="the last runs per label (the mode, unless --label named them) from "
                      "history.jsonl, regressions marked",
        description="Print the last runs of each label (the mode, unless --label named them) "
                    "from RESULTS_DIR/history.jsonl. A fixed run whose join[fast] p99 is more "
                    "than 50%% worse than the median of the 10 fixed runs of its scenario and "
                    "label before it is marked REGRESSION. Exit 1 when the newest "
                    "fixed run is a regression, else 0 (2 when RESULTS_DIR does not exist).")
    trend_parser.add_argument("--last", type=int, default=10, metavar="N",
                              help="runs shown per label (default: 10)")
    trend_parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                              help="where history.jsonl is (default: results/)")
    add_ui_parser(commands, MODES)
    return parser


def _load(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None


def _check_toxiproxy(args: argparse.Namespace) -> None:
    """``--toxiproxy-url`` is loopback or named with ``--allow-host``; without it, the
    bundled Toxiproxy is installed."""
    url = args.toxiproxy_url
    if url is not None:
        try:
            parse_toxiproxy_url(url, allowed_hosts=allowed_hosts_flag(args))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return
    try:
        find_toxiproxy_server(PROJECT_ROOT)
    except ToxiproxyNotFound as exc:
        raise UsageError(str(exc)) from None


def _target(args: argparse.Namespace, scenario: Scenario) -> dict[str, Any]:
    """The target's RigOptions for run and ui (the rules are in harness.rig.target_options)."""
    try:
        options = target_rig_options(args, scenario)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options["mode"] is not None:
        _check_modes(scenario, [options["mode"]])
    return options


def _bundled_only(scenario: Scenario, command: str) -> None:
    """matrix and sweep compare the bundled server's modes; an own server has none."""
    if scenario.target.cmd is not None or scenario.target.url is not None:
        raise UsageError(f"{scenario.source_path}: [target] cmd/url name your own server; "
                         f"{command} runs the bundled server in its modes, so use `run` "
                         "for this scenario (or drop the key)")


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


def _check_modes(scenario: Scenario, modes: Iterable[str]) -> None:
    """Each mode must be one of the scenario's bundled server's."""
    server = scenario.target.bundled
    for mode in modes:
        if mode not in server.modes:
            raise UsageError(f"mode {mode!r} is not one of the {server.name} server's "
                             f"({'/'.join(server.modes)}); {scenario.source_path} sets "
                             f"[target] server = {server.name!r}")


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers < 0 or args.expect_workers < 0:
        raise UsageError("--workers and --expect-workers take a count of 0 or more")
    if not 0 <= args.master_port <= 65535:
        raise UsageError(f"--master-port {args.master_port} is not a port; give 1..65535, or "
                         "leave it out for a free one")
    if args.workers > 32:
        raise UsageError(f"--workers {args.workers} is more than this harness allows (32); "
                         "each worker is a process on this machine")
    try:
        check_listen_hosts(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _distribution(args: argparse.Namespace) -> dict[str, object]:
    return {"workers": args.workers, "remote_workers": args.expect_workers,
            "master_bind_host": args.master_bind_host, "master_port": args.master_port,
            "proxy_host": args.proxy_host,
            "allowed_hosts": allowed_hosts_flag(args),
            "early_verdict": not args.no_early_verdict}


def command_run(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    _check_toxiproxy(args)
    _check_workers(args)
    options = RunOptions(
        scenario=scenario,
        **_target(args, scenario),
        toxiproxy_url=args.toxiproxy_url,
        results_dir=args.results_dir,
        progress=not args.quiet,
        **_distribution(args),  # type: ignore[arg-type]
    )
    outcome = run_scenario(options)
    print_outcome(outcome)
    return _exit_code(outcome.exit_code, outcome.extra.get("interrupted_by"))


def _matrix_options(args: argparse.Namespace, scenario: Scenario) -> RunOptions:
    """A scenario's runs in a matrix, but for their mode and folder (checked when built)."""
    return RunOptions(scenario=scenario, toxiproxy_url=args.toxiproxy_url,
                      progress=not args.quiet, history_dir=args.results_dir,
                      **_distribution(args))  # type: ignore[arg-type]


def _matrix_pass(template: RunOptions, expectations: dict[str, str],
                 matrix_dir: Path) -> tuple[list[dict[str, Any]], int | None]:
    """Run every mode once; return one row per run, and the signal if interrupted."""
    scenario = template.scenario
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for mode, expected in expectations.items():
        outcome = run_scenario(dataclasses.replace(template, mode=mode, results_dir=matrix_dir,
                                                   run_id=mode))
        status = outcome.verdict.status
        held = status == expected
        print(f"{mode:<6} {status:<5} expected {expected:<5} {'ok' if held else 'BROKEN':<6} "
              f"{outcome.verdict.message}", flush=True)
        rows.append({"scenario": scenario.name, "mode": mode, "expected": expected,
                     "verdict": status, "held": held,
                     "message": outcome.verdict.message, "run_dir": str(outcome.run_dir),
                     "duration_s": round(outcome.measurements.duration_s, 1)})
        interrupted = outcome.extra.get("interrupted_by")
        if interrupted:
            return rows, interrupted
    elapsed = time.monotonic() - started
    all_held = all(row["held"] for row in rows)
    (matrix_dir / "matrix.json").write_text(json.dumps(
        {"scenario": scenario.name, "runs": rows, "all_held": all_held,
         "wall_time_s": round(elapsed, 1)}, indent=2) + "\n")
    try:
        write_index(matrix_dir)
    except PageError as exc:
        print(f"harness: index.html not written: {exc}", file=sys.stderr)
    verdict_line = "every expectation holds" if all_held else "an expectation is BROKEN"
    print(f"matrix {scenario.name}: {verdict_line} ({elapsed:.0f} s); results: {matrix_dir}",
          flush=True)
    return rows, None


def _matrix_exit_code(rows: list[dict[str, Any]]) -> int:
    if all(row["held"] for row in rows):
        return 0
    return 2 if any(row["verdict"] == "ERROR" and not row["held"] for row in rows) else 1


def command_matrix(args: argparse.Namespace) -> int:
    scenarios = [_load(path) for path in args.scenarios]
    for scenario in scenarios:
        _bundled_only(scenario, "matrix")
    _check_toxiproxy(args)
    override = _parse_expectations(args.expect) if args.expect is not None else None
    for scenario in scenarios:
        _check_modes(scenario, override or scenario.expectations)
    _check_workers(args)
    templates = [_matrix_options(args, scenario) for scenario in scenarios]
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat} must be 1 or more")
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    for template in templates:
        expectations = override or template.scenario.expectations
        scenario_rows, interrupted = _scenario_matrix(args, template, expectations)
        rows += scenario_rows
        if interrupted:
            return _exit_code(2, interrupted)
    if len(scenarios) > 1:
        broken = [f"{row['scenario']}/{row['mode']}" for row in rows if not row["held"]]
        verdict_line = ("every expectation holds" if not broken
                        else f"expectations BROKEN: {', '.join(broken)}")
        print(f"matrices: {len(scenarios)} scenarios, {verdict_line} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    return _matrix_exit_code(rows)


def _scenario_matrix(args: argparse.Namespace, template: RunOptions,
                     expectations: dict[str, str]) -> tuple[list[dict[str, Any]], int | None]:
    """One scenario's matrix, ``--repeat`` times; every row, and the signal if interrupted."""
    scenario = template.scenario
    matrix_dir = args.results_dir / new_run_id(scenario, "matrix")
    if args.repeat == 1:
        return _matrix_pass(template, expectations, matrix_dir)
    passes: list[list[dict[str, Any]]] = []
    progress = BatchProgress("matrix repeat", args.repeat)
    for repeat in range(1, args.repeat + 1):
        print(f"matrix repeat {repeat}/{args.repeat}", flush=True)
        rows, interrupted = _matrix_pass(template, expectations,
                                         matrix_dir / f"repeat-{repeat:02d}")
        passes.append(rows)
        progress.run_finished(", ".join(f"{row['mode']} {row['verdict']}" for row in rows))
        if interrupted:
            return [row for rows in passes for row in rows], interrupted
    summary = summarize_repeats(passes)
    (matrix_dir / "repeat.json").write_text(json.dumps(
        {"scenario": scenario.name, "repeats": args.repeat, "modes": summary,
         "passes": passes}, indent=2) + "\n")
    print(f"{'mode':<6} {'expected':<8} {'verdicts':<28} {'changes':>7} {'broken':>6}")
    for mode, figures in summary.items():
        counts = ", ".join(f"{count} {verdict}" for verdict, count in figures["verdicts"].items())
        print(f"{mode:<6} {figures['expected']:<8} {counts:<28} {figures['changes']:>7} "
              f"{figures['broken']:>6}")
    total_changes = sum(figures["changes"] for figures in summary.values())
    print(f"repeat: {args.repeat} matrices, {total_changes} verdict changes; "
          f"results: {matrix_dir}")
    return [row for rows in passes for row in rows], None


def summarize_repeats(passes: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per mode: how many of each verdict, how often the verdict changed from one
    repeat to the next, and how often it broke its expectation."""
    summary: dict[str, dict[str, Any]] = {}
    for rows in passes:
        for row in rows:
            figures = summary.setdefault(row["mode"], {
                "expected": row["expected"], "verdicts": {}, "changes": 0, "broken": 0,
                "last": None})
            figures["verdicts"][row["verdict"]] = figures["verdicts"].get(row["verdict"], 0) + 1
            if figures["last"] is not None and figures["last"] != row["verdict"]:
                figures["changes"] += 1
            figures["last"] = row["verdict"]
            figures["broken"] += not row["held"]
    for figures in summary.values():
        del figures["last"]
    return summary


def command_sweep(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    _bundled_only(scenario, "sweep")
    try:
        low_ms, high_ms = parse_latency_range(args.latency)
        resolution_ms = parse_resolution(args.resolution)
        check_sweepable(scenario)
    except AxisError as exc:
        raise UsageError(str(exc)) from None
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat} must be 1 or more")
    if args.max_runs is not None and args.max_runs < 2 * args.repeat:
        raise UsageError(f"--max-runs {args.max_runs} must allow both ends of the range: at "
                         f"least 2 x --repeat = {2 * args.repeat}")
    _check_toxiproxy(args)
    _check_workers(args)
    _check_modes(scenario, [args.mode])
    plan = SweepPlan(scenario, args.mode, args.find or DEFAULT_FIND[args.mode], low_ms,
                     high_ms, resolution_ms, args.repeat, args.max_runs)
    folder = args.results_dir / new_run_id(scenario, f"sweep-{args.mode}")
    template = RunOptions(scenario=scenario, mode=args.mode, toxiproxy_url=args.toxiproxy_url,
                          results_dir=folder, progress=not args.quiet,
                          **_distribution(args))  # type: ignore[arg-type]
    try:
        result = run_sweep(plan, folder, real_runner(template))
    except Interrupted as exc:  # a signal after the search, while the page was drawn
        return _exit_code(2, exc.signum)
    assert result.answer is not None
    return result.answer.exit_code


def command_report(args: argparse.Namespace) -> int:
    if args.rejudge:
        return command_rejudge(args)
    if args.check or args.scenario:
        raise UsageError("--check and --scenario go with --rejudge (judge a run folder again)")
    try:
        written = rebuild(args.results_dir)
    except PageError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        print(f"wrote {path}")
    return 0


def command_rejudge(args: argparse.Namespace) -> int:
    thresholds = _load(args.scenario).thresholds if args.scenario else None
    try:
        rejudged = rejudge(args.results_dir, thresholds=thresholds, checks=args.check)
    except CannotRejudge as exc:
        raise UsageError(str(exc)) from None
    verdict = rejudged.verdict
    if verdict.check_results:
        print(format_summary_table(verdict))
    print(verdict.message)
    written = write_rejudged(rejudged)
    if rejudged.record is not None and verdict.status != rejudged.record.status:
        print(f"(the run's own verdict was {rejudged.record.status})")
    if written is not None:
        print(f"wrote {written}")
    return verdict.exit_code


def command_trend(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise UsageError(f"--last {args.last} must be 1 or more")
    try:
        text, code = trend(args.results_dir, args.last)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    print(text)
    return code


def command_ui(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    _check_toxiproxy(args)
    try:
        check_listen_hosts(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        return serve_ui(UiOptions(RigOptions(
            scenario=scenario, **_target(args, scenario), toxiproxy_url=args.toxiproxy_url,
            proxy_host=args.proxy_host, allowed_hosts=allowed_hosts_flag(args),
        ), results_dir=args.results_dir, port=args.port))
    except PortBusy as exc:
        raise UsageError(str(exc)) from None


def _exit_code(code: int, interrupted_by: int | None) -> int:
    return 128 + interrupted_by if interrupted_by else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": command_run, "matrix": command_matrix, "sweep": command_sweep,
                "report": command_report,
                "trend": command_trend, "ui": command_ui}
    try:
        return handlers[args.command](args)
    except (UsageError, OptionsError) as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        # Last resort: a harness fault must never exit 1, which means FAIL.
        print(f"harness: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
