"""Where a run happens: in this process, or in a network namespace of its own.

:func:`run_scenario` is the one entry point of a headless run (``harness run``,
``matrix``, ``sweep``, the benchmarks). Most runs happen here, in a
:class:`~harness.run.ChaosRun`. A scenario with ``[network] socket_buffer`` runs
in a child process inside a network namespace with small TCP buffers
(:mod:`harness.rig.netns`, :mod:`harness.headless.namespace_child`), where this machine allows it
and every component is started by the run; its outcome is read back from the
run's ``result.json``. The timeline and the judging stay in :mod:`harness.run`.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.checker.verdict import Verdict
from harness.measure.measurements import Measurements
from harness.rig.netns import INSIDE_ENV, namespace_argv, namespace_problem, no_namespace_notice
from harness.rig.rig import Interrupted, new_run_id, signals_ignored, signals_raise
from harness.run import ChaosRun, RunOptions, RunOutcome
from harness.runfolder.record import RecordError, load_record
from harness.scenario import Scenario
from harness.target import PROJECT_ROOT

__all__ = ["decode_scenario", "encode_scenario", "run_scenario"]

#: After a signal, how long a run in its network namespace may take to clean up.
NAMESPACE_STOP_GRACE = 60.0


def run_scenario(options: RunOptions) -> RunOutcome:
    """Run one scenario end to end and write ``results/<run-id>/``.

    With ``[network] socket_buffer`` the run happens in a network namespace of its own with
    small TCP buffers (:mod:`harness.rig.netns`), where this machine allows it and every component
    is started here; otherwise it says why in one line and runs on the machine's network.
    """
    # Run folders are the user's (the current directory's): children that run elsewhere
    # (Locust, a namespace's run) must get them whole.
    options = dataclasses.replace(
        options, results_dir=options.results_dir.absolute(),
        history_dir=None if options.history_dir is None else options.history_dir.absolute())
    size = options.scenario.network.socket_buffer
    if size and os.environ.get(INSIDE_ENV) != "1":
        problem = namespace_obstacle(options)
        if problem is None:
            return run_in_namespace(options, size)
        print(no_namespace_notice(problem), file=sys.stderr, flush=True)
    return ChaosRun(options).execute()


def namespace_obstacle(options: RunOptions) -> str | None:
    """Why this run cannot move into a network namespace of its own, naming the component and
    the reason; None when it can.

    Everything the run starts (Toxiproxy, the bundled server or a ``--target-cmd`` command,
    Locust) starts inside the namespace; what runs already, on this machine's network, cannot
    be reached from there (the namespace has its own loopback).
    """
    outside = "runs on this machine's network, which a namespace of its own cannot reach"
    if options.target_url:
        return (f"the target {options.target_url} (--target-url or [target] url) {outside}; "
                "give its command with --target-cmd to have it started inside")
    if options.toxiproxy_url:
        return (f"the Toxiproxy at {options.toxiproxy_url} (--toxiproxy-url) {outside}; "
                "leave the flag out to have one started inside")
    if options.remote_workers:
        return (f"--expect-workers {options.remote_workers}: workers on other machines cannot "
                "reach a namespace of its own")
    defaults = RunOptions(scenario=options.scenario)
    if options.allowed_hosts != defaults.allowed_hosts:
        return (f"--allow-host {' '.join(options.allowed_hosts)}: a namespace of its own has "
                "no host but its loopback")
    if options.proxy_host != defaults.proxy_host:
        return (f"--proxy-host {options.proxy_host}: a namespace of its own has no address "
                "but its loopback")
    return namespace_problem()


def run_in_namespace(options: RunOptions, size: int) -> RunOutcome:
    """Run in a child process inside a network namespace with ``size``-byte TCP buffers; the
    outcome is read back from its ``result.json``."""
    run_id = options.run_id or new_run_id(options.scenario,
                                          options.label or options.mode or "external")
    run_dir = options.results_dir / run_id
    interrupted: int | None = None
    child = subprocess.Popen(namespace_argv(size, namespace_options(options, run_id)),
                             cwd=PROJECT_ROOT)
    try:
        with signals_raise():
            try:
                child.wait()
            except Interrupted as exc:  # pass it on (a terminal's Ctrl-C reached it already)
                interrupted = exc.signum
                with signals_ignored():
                    child.send_signal(exc.signum)
                    try:
                        child.wait(NAMESPACE_STOP_GRACE)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return outcome_from_result(run_dir, child.returncode, interrupted)


def namespace_options(options: RunOptions, run_id: str) -> dict[str, Any]:
    """The run's options as JSON for :mod:`harness.headless.namespace_child` (the scenario encoded
    whole)."""
    return {"scenario": encode_scenario(options.scenario), "mode": options.mode,
            "workers": options.workers, "master_bind_host": options.master_bind_host,
            "master_port": options.master_port,
            "results_dir": str(options.results_dir),
            "history_dir": None if options.history_dir is None else str(options.history_dir),
            "run_id": run_id, "progress": options.progress,
            "early_verdict": options.early_verdict,
            "launch": None if options.launch is None else dataclasses.asdict(options.launch),
            "lock_reports": options.lock_reports, "tls": dataclasses.asdict(options.tls),
            "origin": options.origin, "label": options.label}


def encode_scenario(scenario: Scenario) -> str:
    """The scenario itself, as the namespace child gets it (:func:`decode_scenario`): not its
    file, which a sweep's point or any in-memory change would silently undo."""
    return base64.b64encode(pickle.dumps(scenario)).decode("ascii")


def decode_scenario(text: str) -> Scenario:
    """The scenario :func:`encode_scenario` wrote (passed between two of our own processes)."""
    scenario = pickle.loads(base64.b64decode(text))
    if not isinstance(scenario, Scenario):
        raise TypeError(f"not a scenario: {type(scenario).__name__}")
    return scenario


def outcome_from_result(run_dir: Path, exit_code: int, interrupted: int | None) -> RunOutcome:
    """The outcome of a run made by another process, from its ``result.json``."""
    try:
        record = load_record(run_dir)
        verdict = record.verdict()
        measurements = Measurements(run_started=record.run_started,
                                    run_ended=record.run_ended,
                                    fault_started=record.fault_started,
                                    fault_ended=record.fault_ended)
        extra = dict(record.extra)
    except RecordError as exc:
        cause = f"the run in its network namespace left no usable result.json (exit code " \
                f"{exit_code}: {exc})"
        verdict = Verdict("ERROR", f"ERROR: {cause}", (), (cause,))
        measurements, extra = Measurements(), {}
    if interrupted:
        extra["interrupted_by"] = interrupted
    return RunOutcome(verdict, run_dir, measurements, extra)
