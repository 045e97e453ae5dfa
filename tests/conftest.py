"""Shared fixtures and suite-wide rules.

Fixtures: the slow-member scenario, a real reference server per module, one real Toxiproxy
server for the whole session (its URL goes to ``harness ... --toxiproxy-url``; each rig names
its proxies with a unique prefix and removes them, so runs can share it), and ``python -m
harness ui`` started as a person would (the web UI's tests and the reconnect fault's).

Markers: ``serial`` for a test that cannot run beside others (it watches the whole checkout or
the whole machine): ``make test`` runs the rest on four pytest-xdist workers, then these alone.

Rules: under CI (env ``CI`` set) a skip for a missing part of the project's own set-up
(:class:`tests.missing_setup.MissingSetup`) is a failure. At the end the summary says how many
real harness runs the session made and how long they ran (result.json files that name the
processes they started, under the session's temporary folder): a measure of the suite's real
work that does not depend on how loaded the machine is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.rig.launched import ReferenceTarget
from harness.scenario import Scenario, load_scenario
from harness.target import PROJECT_ROOT, TargetInfo
from harness.toxiproxy.server import ToxiproxyServer
from tests.missing_setup import MissingSetup, require_toxiproxy, under_ci
from tests.ui_command import UiCommand

SLOW_MEMBER = PROJECT_ROOT / "scenarios" / "slow-member.toml"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """scenarios/slow-member.toml, as `make chaos` runs it."""
    return load_scenario(SLOW_MEMBER)


@pytest.fixture(scope="module")
def naive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetInfo]:
    """A naive-mode reference server shared by one test module."""
    target = ReferenceTarget("naive", Path(tmp_path_factory.mktemp("target")), send_timeout=2.0)
    with target as info:
        yield info


@pytest.fixture
def ui_command(tmp_path: Path) -> Iterator[Callable[[str], UiCommand]]:
    """Starts ``python -m harness ui`` in a mode (:class:`tests.ui_command.UiCommand`).

    Every command started is stopped after the test, whatever it asserted.
    """
    started: list[UiCommand] = []

    def start(mode: str) -> UiCommand:
        command = UiCommand(tmp_path, mode)
        started.append(command)
        return command

    yield start
    for command in started:
        command.close()


@pytest.fixture(scope="session")
def toxiproxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of one real toxiproxy-server shared by the whole session.

    Pass it as ``--toxiproxy-url`` (or ``RigOptions.toxiproxy_url``): a run then skips
    starting its own. Tests that check Toxiproxy's own start, stop or death start their own.
    """
    require_toxiproxy()
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log") as server:
        yield server.url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "serial: cannot run beside other tests; `make test` runs it after the rest")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI, a skip for missing own set-up becomes a failure with a one-line reason."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    missing = call.excinfo.value if call.excinfo is not None else None
    if report.skipped and under_ci() and isinstance(missing, MissingSetup):
        report.outcome = "failed"
        report.longrepr = f"CI must not skip this test: {missing.msg}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: the real harness runs this session made (result.json files) and their time."""
    factory = getattr(terminalreporter.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        basetemp = factory.getbasetemp()
    except (OSError, ValueError):
        return
    runs: dict[object, float] = {}  # by start time: a test's copy of a run folder is one run
    kept = {_run_started(path) for path in (Path(__file__).parent / "data").glob("*/result.json")}
    for path in basetemp.glob("**/result.json"):
        try:
            result = json.loads(path.read_text())
            real = bool(result["extra"]["pids"])  # a written-out result.json started nothing
            started, duration = result["timings"]["run_started"], result["timings"]["duration_s"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if real and started not in kept:  # copies of tests/data's folders ran in no test
            runs[started] = duration if isinstance(duration, (int, float)) else 0.0
    count, seconds = len(runs), sum(runs.values())
    if count:
        terminalreporter.write_line(
            f"real harness runs: {count} (result.json with child pids), {seconds:.0f} s of "
            "run time")


def _run_started(path: Path) -> object:
    """``timings.run_started`` of a result.json (None if it has none)."""
    try:
        return json.loads(path.read_text())["timings"]["run_started"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
