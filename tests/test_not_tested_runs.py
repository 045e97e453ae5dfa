"""Nothing seen is not a verdict: real runs against servers the harness cannot test.

Each server refuses every join, a different way (tests/refusingservers.py). A run against it
is ERROR naming the cause, never FAIL ``errors.ratio = 1``, and result.json, junit.xml and
report.html say why; a check broken from the first join on, before any fault, FAILs with
the message saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from harness.bench.short_scenario import short_slow_member
from harness.target import PROJECT_ROOT
from tests.refusingservers import forbidding_server, frame_room_server
from tests.scenario_text import four_members
from tests.test_chaos_run import (
    SHORT_TARGET,
    SHORT_THRESHOLDS,
    assert_nothing_left,
    harness,
    only_result,
)
from tests.test_protocol_json import CONNECT_PROTOCOL, FRAME_PROTOCOL

pytestmark = pytest.mark.integration

#: The docs' example checks; a slow member's link gets latency, so the run has a warm-up.
THRESHOLDS = """
min_samples = 5
checks = ["join[fast].p99 < 250ms", "deliver[fast].p99 < 250ms", "errors.ratio < 0.05"]
abort_on_fail = [{abort}]
"""


def run(tmp_path: Path, url: str, protocol: str, abort: str = ""
        ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    scenario = tmp_path / "refused.toml"
    scenario.write_text(four_members(
        "refused", header='description = "A server the harness cannot test."', warmup="3s",
        fault="3s", cooldown="1s", faults='[[faults]]\nkind = "latency"\nlatency = "100ms"',
        thresholds=THRESHOLDS.replace("{abort}", abort)) + protocol, encoding="utf-8")
    results = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--target-url", url,
         "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    [result_file] = results.glob("*/result.json")
    return completed, json.loads(result_file.read_text()), result_file.parent


def assert_error_names_the_cause(completed: subprocess.CompletedProcess[str],
                                 result: dict[str, Any], run_dir: Path, cause: str) -> None:
    output = completed.stdout + completed.stderr
    assert completed.returncode == 2, output
    verdict = result["verdict"]
    assert verdict["status"] == "ERROR", verdict["message"]
    assert verdict["message"].startswith(
        f"ERROR: the target was not tested: every join[fast] {cause} ("), verdict["message"]
    assert verdict["message"] in completed.stdout  # the console says it too
    [join] = [entry for entry in verdict["not_tested"] if entry["observed"] == "join[fast]"]
    assert join["causes"][0]["cause"] == cause and join["attempts"] >= 3
    assert "not tested" in completed.stdout  # the summary table's status column
    suite = ElementTree.parse(run_dir / "junit.xml").getroot()[0]
    messages = [error.get("message", "") for error in suite.iter("error")
                if error.get("type") == "not_tested"]
    assert messages and all(cause in message for message in messages)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"every join[fast] {cause}" in page and ">not tested</span>" in page


def test_every_join_refused_with_http_403_is_an_error_naming_it(tmp_path: Path) -> None:
    """Join by connecting; every upgrade but the probe's gets 403. errors.ratio = 1 in the
    early verdict stops the run, and still it is ERROR, not FAIL."""
    with forbidding_server() as url:
        completed, result, run_dir = run(tmp_path, url + "/chat", CONNECT_PROTOCOL,
                                         abort='"errors.ratio < 0.05"')
    assert_error_names_the_cause(completed, result, run_dir, "got HTTP 403")
    errors = next(check for check in result["thresholds"] if check["subject"] == "errors.ratio")
    assert (errors["status"], errors["measured"]) == ("broken", 1.0)
    assert result["extra"]["early_verdict"]["check"] == "errors.ratio < 0.05"
    assert "not a FAIL: nothing got through" in result["verdict"]["message"]
    assert_nothing_left(result, tmp_path / "results")


def test_every_join_frame_closed_with_3501_is_an_error_naming_it(tmp_path: Path) -> None:
    with frame_room_server(close_code=3501) as url:
        completed, result, run_dir = run(tmp_path, url, FRAME_PROTOCOL)
    assert_error_names_the_cause(completed, result, run_dir,
                                 "closed with code 3501 (join refused)")
    assert_nothing_left(result, tmp_path / "results")


def test_a_check_broken_in_the_warm_up_says_so(tmp_path: Path) -> None:
    """Every join takes 400 ms from the first one on: FAIL, and not the fault's doing."""
    with frame_room_server(join_delay_s=0.4) as url:
        completed, result, _ = run(tmp_path, url, FRAME_PROTOCOL)
    message = result["verdict"]["message"]
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert message.startswith("FAIL: join[fast].p99 = "), message
    assert "; already broken in the warm-up, before any fault: join[fast].p99 = " in message
    [warmup] = result["verdict"]["broken_in_warmup"]
    assert warmup["subject"] == "join[fast].p99" and warmup["measured"] >= 400
    assert_nothing_left(result, tmp_path / "results")


#: A protocol the bundled server does not speak (the join-by-frame dialect), reading the
#: bundled server's error frames: it answers every join with one.
FOREIGN_PROTOCOL = FRAME_PROTOCOL + '\n[protocol.error]\ntype = "error"\n'


def test_a_matrix_whose_run_tested_nothing_exits_2(tmp_path: Path) -> None:
    """The matrix runs the bundled server in a protocol it does not speak: ERROR, exit 2."""
    scenario = tmp_path / "foreign.toml"
    scenario.write_text(short_slow_member(
        "foreign", description="The bundled server, spoken to in a protocol it does not know.",
        target=SHORT_TARGET, thresholds=SHORT_THRESHOLDS, members=4, warmup="2s", fault="2s")
        + FOREIGN_PROTOCOL, encoding="utf-8")
    completed = harness("matrix", str(scenario), "--expect", "fixed=FAIL", results=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    result = only_result(tmp_path)
    message = result["verdict"]["message"]
    assert message.startswith("ERROR: the target was not tested: every join[fast] got a reply "
                              "other than 'joined' ("), message
    assert "fixed  ERROR expected FAIL  BROKEN ERROR: the target was not tested" in (
        completed.stdout)
    [matrix] = tmp_path.glob("*/matrix.json")
    assert json.loads(matrix.read_text())["runs"][0]["message"] == message
