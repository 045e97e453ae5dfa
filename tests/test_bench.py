"""The benchmarks (``python -m harness.bench``) run, in tiny form, so they cannot rot.

Each benchmark runs once with ``--tiny`` as a separate process, the way ``make
bench`` runs it. Nothing here asserts a speed: only that the output has its
structure, that the figures are sane positive numbers, and that no process is
left behind. The pure functions are tested directly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.bench import scale
from harness.bench.__main__ import BENCHMARKS
from harness.bench.__main__ import main as bench_main
from harness.bench.cpu_split import CpuSplit, role_of, run_queue_wait
from harness.bench.peer import (
    ARTILLERY_DIR,
    artillery_script,
    failed_users,
    read_counters,
    read_joins,
    server_settings,
)
from harness.bench.profile_step import area_of, folded_shares
from harness.bench.result import BenchResult, Row, median, ratio
from harness.bench.scale import (
    CHAT_RATE,
    LIMIT_MS,
    PROTOCOL_ERRORS,
    REFUSED_CHECK,
    TINY_CHAT_RATE,
    TINY_MIN_JOINS,
    expected_joins,
    judge_step,
    judge_window,
    measure_step,
    starved_by_machine,
)
from harness.bench.table import format_table
from harness.bench.verdict_time import detection
from harness.measure.hdr import read_histograms
from harness.measure.measurements import Sample
from harness.runfolder.record import record_from_document
from harness.target import PROJECT_ROOT
from harness.thresholds import CheckResult, parse_check

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
    return benchmark


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
    tested = {"lockwatch", "fanout", "loadgen", "verdict", "scale", "townhall", "peer"}
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
    # The chat rate twice: direct first (the row judged by the goal), then through the proxy.
    paths = {step["workload"]: step["fast_members"] for step in steps}
    assert paths == {"chat rate, direct": "direct", "chat rate, proxy": "proxy"}
    assert steps[0]["members"] == 10 and steps[0]["workload"] == "chat rate, direct"
    for step in steps:
        proxies = json.loads((Path(step["run_dir"]) / "result.json").read_text())[
            "extra"]["proxies"]
        assert proxies["fast_path"] == step["fast_members"]
        assert step["operations"] > 0 and isinstance(step["held"], bool)
        # Every role's CPU over the window was measured, from the processes themselves.
        assert set(step["cpu_cores"]) == {"generator", "server", "toxiproxy", "harness"}
        assert step["cpu_cores"]["generator"] > 0 and step["cpu_cores"]["server"] > 0
        assert step["generator_cores_per_1000"] > 0
        assert step["waited_for_core"]["generator"] is not None
        # The run sampled the server's count of refused frames: our members' frames are whole.
        assert step["server_protocol_errors"] == 0, step
    direct, proxied = [row for row in benchmark["rows"] if "largest count" in row["case"]]
    assert direct["case"].startswith("chat rate, direct")
    assert direct["unit"] == "members" and direct["goal"] == ">= 10 members"
    assert proxied["case"].startswith("chat rate, proxy") and proxied["goal"] is None
    assert isinstance(benchmark["goals_met"], bool)


@pytest.mark.integration
def test_a_scale_step_whose_frames_the_server_refused_is_not_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real tiny step (the reference server, one Locust process) whose members' acks the
    server refuses (tests.refusedframes): its run measures the refusals, and the step is not
    held, saying so, whatever its joins did."""
    monkeypatch.setattr(scale, "SCENARIO", scale.SCENARIO
                        + '\n[protocol]\nkind = "tests.refusedframes:RefusedAcks"\n')
    # The server awaits no ack ("write"): the refused ones hold up no delivery.
    step = measure_step(TINY_CHAT_RATE, TINY_CHAT_RATE.start, TINY_CHAT_RATE.window_s,
                        tmp_path, TINY_MIN_JOINS, delivery="write")
    assert step["operations"] > 0, step
    refused = step["server_protocol_errors"]
    assert refused is not None and refused > 0, step
    assert step["held"] is False
    assert (f"the server refused {refused:g} of the members' frames ({PROTOCOL_ERRORS})"
            in step["not_held_because"]), step


@pytest.mark.integration
def test_townhall_tiny(tmp_path: Path) -> None:
    benchmark, _, _ = bench_tiny("townhall", tmp_path)
    runs = {run["mode"]: run for run in benchmark["details"]["runs"]}
    assert set(runs) == {"fixed", "naive"}
    # Tiny or not, the verdicts are the point: naive FAILs, fixed PASSes with its joins timed.
    assert runs["naive"]["verdict"] == "FAIL" and runs["naive"]["lock_reports"] > 0
    assert runs["fixed"]["verdict"] == "PASS" and runs["fixed"]["joins"] > 0
    assert runs["fixed"]["deliveries_per_s"] > 0
    assert benchmark["goals_met"] is True


@pytest.mark.integration
def test_peer_tiny(tmp_path: Path) -> None:
    if not (ARTILLERY_DIR / "node_modules" / ".bin" / "artillery").exists():
        pytest.skip("Artillery is installed by `make bench` (harness.bench --only peer), "
                    "not by the tests; it is not in .tools/artillery")
    benchmark, rows, _ = bench_tiny("peer", tmp_path)
    tools = {step["tool"] for step in benchmark["details"]["steps"]}
    assert tools == {"locust", "artillery"}
    for step in benchmark["details"]["steps"]:
        assert step["joins"] > 0, step  # Artillery's members really joined, and were timed
        assert step["server_protocol_errors"] == 0, step  # the server refused no frame
        if step["tool"] == "artillery":  # the server ran their broadcasts
            assert step["server_broadcasts"] > 0, step
    ratio = rows["members held, Locust / Artillery"]
    assert ratio["value"] == 10 and ratio["baseline_value"] == 10 and ratio["ratio"] == 1.0


def test_both_tools_meet_the_same_server(tmp_path: Path) -> None:
    """Artillery's steps start the reference server with the flags a run of ours gives it."""
    from harness.rig.launched import ReferenceTarget
    from harness.rig.rig import Rig, RigOptions
    from harness.scenario import load_scenario

    scenario = tmp_path / "peer.toml"
    scenario.write_text('name = "peer"\n[target]\ndelivery = "write"\n')
    ours = Rig(RigOptions(scenario=load_scenario(scenario), mode="fixed"), tmp_path,
               "peer").launched_target()
    theirs = ReferenceTarget("fixed", tmp_path, **server_settings())

    def flags(argv: list[str]) -> list[str]:  # each picks a free port of its own
        port = argv.index("--port") + 1
        return argv[:port] + argv[port + 1:]

    assert "--lock-suspend-threshold" in ours.argv
    assert flags(theirs.argv) == flags(ours.argv)


def test_recording_cost_records_every_simulated_delivery_once(tmp_path: Path) -> None:
    """``python -m harness.bench.recording_cost``: each delivery it simulates is one sample
    line, one histogram value and one ``received`` in order.jsonl, so its CPU figure is the
    cost of recording them all."""
    completed = subprocess.run(
        [sys.executable, "-m", "harness.bench.recording_cost", "--members", "30", "--seconds",
         "3", "--repeat", "1", "--output", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert re.fullmatch(r"30 members: \d+\.\d µs CPU per member-second \(best of 1: .*\)\n",
                        completed.stdout), completed.stdout
    folder = tmp_path / "30-0"
    samples = [json.loads(line) for line in (folder / "samples.jsonl").open()]
    received = sum(json.loads(line)["received"] for line in (folder / "order.jsonl").open())
    histograms = read_histograms(folder / "histograms.json")
    deliver = histograms.get("deliver", "fast", "raw")
    assert samples and all(sample["op"] == "deliver" for sample in samples)
    assert deliver is not None and len(samples) == received == deliver.count


def test_cpu_split_rates_roles_and_run_queue_wait() -> None:
    split = CpuSplit(points=[(10.0, {"generator": 1.0, "server": 5.0}),
                             (11.0, {"generator": 1.5, "server": 5.2, "harness": 0.1}),
                             (12.0, {"generator": 2.0, "harness": 0.3})])
    cores = split.cores(10.0, 12.0)
    assert cores["generator"] == 0.5 and cores["server"] == pytest.approx(0.2)
    assert cores["harness"] == pytest.approx(0.2) and cores["toxiproxy"] is None
    assert role_of(["/x/python", "-m", "locust", "-f", "locustfile.py"]) == "generator"
    assert role_of(["/x/.tools/bin/toxiproxy-server", "-port", "1"]) == "toxiproxy"
    assert role_of(["/x/python", "-m", "targets.roomserver", "--mode", "fixed"]) == "server"
    assert role_of(["/bin/sleep", "1"]) is None
    split.read()  # this process, for real
    assert split.points[-1][1]["harness"] > 0 and run_queue_wait(os.getpid()) >= 0


def test_a_starved_window_needs_both_a_waiting_generator_and_other_work() -> None:
    assert starved_by_machine(0.6, 1.2)
    assert not starved_by_machine(0.6, 0.1)   # our own processes contend: a real limit
    assert not starved_by_machine(0.05, 1.5)  # the machine is busy but we got our cores
    assert not starved_by_machine(None, 1.5)
    assert expected_joins(330, 20.0, CHAT_RATE.period_s) == 200


def test_artillery_script_and_its_outputs(tmp_path: Path) -> None:
    script = artillery_script("ws://127.0.0.1:1/ws", 40, CHAT_RATE, cycles=2)
    assert script["config"]["phases"] == [{"duration": 10, "arrivalCount": 40}]
    # Uncompressed, as websocket-client's: ws would otherwise offer permessage-deflate.
    assert script["config"]["ws"]["perMessageDeflate"] is False
    [scenario] = script["scenarios"]
    assert scenario["engine"] == "ws"
    [set_up, cycle] = scenario["flow"]
    assert set_up == {"function": "setUp"} and cycle["count"] == 2
    before, join, stay, leave = cycle["loop"][:4]
    assert before == {"function": "beforeJoin"}  # the processor times the join
    assert json.loads(join["send"]) == {"type": "join", "room": "{{ room }}",
                                        "member": "{{ member }}"}
    assert stay["count"] == 6 and stay["loop"][2] == {"think": "5000ms"}
    assert cycle["loop"][-1] == {"think": "3000ms"}  # not "3.0": Artillery reads 0.5 as 0.5 ms
    # Artillery's templates drop the brace after "{{ x }}}": no frame may hold one.
    sends = [step["send"] for step in (join, stay["loop"][1], leave)]
    assert not any("}}}" in send for send in sends)
    # Filled in as Artillery would (were it not for that brace), each is whole JSON.
    values = {"room": "room-1", "member": "m", "id": "m-1", "now": "1000.5"}
    filled = [json.loads(re.sub(r"\{\{ (\w+) \}\}", lambda name: values[name[1]], send))
              for send in sends]
    assert filled[1] == {"type": "broadcast", "room": "room-1", "id": "m-1",
                         "sent_at": 1000.5, "body": "hello"}
    assert json.loads(leave["send"]) == {"type": "leave", "room": "{{ room }}"}
    joins = tmp_path / "joins.txt"
    assert read_joins(joins) == (None, [])
    joins.write_text("start 999.25\n1000.5 12\n1001.0 fail\n1001.5 300\n1001.")
    assert read_joins(joins) == (999.25, [(1000.5, 12.0), (1001.0, None), (1001.5, 300.0)])
    log = "vusers.failed: ...... 2\nvusers.created: ..... 9\nvusers.failed: ..... 1\n"
    assert failed_users(log) == 3


def test_read_counters_of_the_reference_server() -> None:
    from targets.roomserver.context import ServerContext
    from targets.roomserver.metrics import render_metrics
    ctx = ServerContext(mode="fixed", send_timeout=1.0, outbox_size=8, delivery="write")
    ctx.metrics.broadcasts, ctx.metrics.protocol_errors = 7, 3
    counters = read_counters(render_metrics(ctx, [], []))
    assert counters["broadcasts_total"] == 7 and counters["protocol_errors_total"] == 3
    assert not any("{" in name or name.startswith("roomserver_") for name in counters)


def test_profile_areas(tmp_path: Path) -> None:
    assert area_of("main (locustfile.py:1);run (harness/loadgen/history.py:9);"
                   "dumps (json/__init__.py:2)") == "harness: operation history"
    assert area_of("run (gevent/hub.py:1);recv (websocket/_core.py:3)") == "websocket-client"
    assert area_of("x (a.py:1)") == "other"
    assert area_of("main (x.py:1);Hub.run (gevent/hub.py:647)") == \
        "gevent: the hub (event loop, switches)"
    assert area_of("Hub.run (gevent/hub.py:647);recv (gevent/_socketcommon.py:651)") == \
        "gevent: sockets, sleeps, waits"
    folded = tmp_path / "x.folded"
    folded.write_text("a (websocket/_core.py:1) 3\nb (json/decoder.py:2) 1\n")
    assert folded_shares(folded) == {"websocket-client": 0.75, "json": 0.25}


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


def refused_result(measured: float | None) -> CheckResult:
    """What a run's check :data:`REFUSED_CHECK` reports when it measured ``measured``."""
    check = parse_check(REFUSED_CHECK)
    return CheckResult(check.text, check.subject, check.operator, check.limit, measured,
                       check.metric.unit,
                       "no_data" if measured is None else
                       "holding" if measured < check.limit else "broken",
                       0 if measured is None else 1, at_target=True)


@pytest.mark.parametrize(("refused", "join_ms", "held"), [
    (0.0, LIMIT_MS / 2, True),
    (0.0, LIMIT_MS * 2, False),
    (3.0, LIMIT_MS / 2, False),
    (None, LIMIT_MS / 2, False),
])
def test_a_step_is_held_only_when_the_server_refused_no_frame(
        refused: float | None, join_ms: float, held: bool) -> None:
    samples = [Sample(10.0 + i / 100, "join", "fast", join_ms, True) for i in range(100)]
    window = judge_window(samples, 10.0, 20.0)
    results = [] if refused is None else [refused_result(refused)]
    step = judge_step(window, "PASS" if held else "FAIL", results)
    assert step["held"] is held and step["server_protocol_errors"] == refused
    assert (step["not_held_because"] == []) is held
    if refused:
        assert step["not_held_because"] == [
            f"the server refused {refused:g} of the members' frames ({PROTOCOL_ERRORS})"]
    elif refused is None:
        assert step["not_held_because"] == [
            f"the server's count of refused frames ({PROTOCOL_ERRORS}) was not measured"]
    elif not held:
        assert step["not_held_because"] == [f"join p99 {LIMIT_MS * 2:.0f} ms, not under "
                                            f"{LIMIT_MS:g} ms"]
    # A run whose verdict is ERROR holds nothing, whatever it measured.
    assert judge_step(window, "ERROR", [refused_result(0.0)])["held"] is False


def test_judge_window() -> None:
    samples = [Sample(10.0 + i / 100, "join", "fast", float(i), True) for i in range(100)]
    samples.append(Sample(5.0, "join", "fast", 5000.0, True))  # ramp-up, outside the window
    figures = judge_window(samples, 10.0, 20.0)
    assert figures["joins"] == 100 and figures["join_p99_ms"] == 98.0 and figures["held"]
    samples.append(Sample(15.0, "join", "fast", 1.0, False))
    samples.append(Sample(15.0, "leave", "fast", 1.0, False))
    assert judge_window(samples, 10.0, 20.0)["held"] is False  # 2 of 102 failed: over 1%
    assert expected_joins(300, 6) == 818  # one join per member per 2.2 s cycle


@pytest.mark.integration
def test_sigterm_stops_the_bench_and_every_child_it_started(tmp_path: Path) -> None:
    """A SIGTERM while a scale step runs stops the bench with 143, and leaves no Toxiproxy,
    target or Locust behind (each runs in a session of its own, out of the signal's reach)."""
    bench = subprocess.Popen(
        [sys.executable, "-m", "harness.bench", "--only", "scale", "--tiny",
         "--output", str(tmp_path / "bench.json"), "--work-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 90
        names: set[str] = set()
        while time.monotonic() < deadline and not {"toxiproxy-server", "locust"} <= names:
            for child in psutil.Process(bench.pid).children(recursive=True):
                seen.setdefault(child.pid, child)
                with contextlib.suppress(psutil.Error):
                    names.update(part.rsplit("/", 1)[-1] for part in child.cmdline()[:3])
            time.sleep(0.2)
        assert {"toxiproxy-server", "locust"} <= names, names  # a run is under way
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 143, stderr.decode()[-2000:]
    assert "interrupted by SIGTERM" in stderr.decode()
    time.sleep(0.5)
    left = [child for child in seen.values() if child.is_running()
            and child.status() != psutil.STATUS_ZOMBIE]
    assert not left, [child.cmdline() for child in left]
