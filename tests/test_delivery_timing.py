"""Delivery time across Locust processes (issue 22 part 4).

The send time travels in the message id the harness writes (harness/protocols/sendtime.py),
so a receiver in another process times a delivery even when the protocol has no send-time
field. Unit checks of the encoding, then real runs under ``--workers 2`` (real Toxiproxy,
real Locust master and workers): the bundled server's protocol, which carries ``sent_at``,
and a JSON server that carries none; each times at least 95% of the deliveries received.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.protocols import Delivered
from harness.protocols.sendtime import send_time, stamped, unstamped
from harness.target import PROJECT_ROOT
from tests.jsonservers import connect_server
from tests.test_chaos_run import assert_nothing_left
from tests.test_protocol_json import (
    CONNECT_PROTOCOL,
    GOOD_CHECKS,
    SCENARIO,
    _assert_no_member_crashed,
)

#: What this test judges is timing, not the generator's health: three Locust processes share
#: a loaded machine, so their lag may pass the default 100 ms without making a delivery untimed.
LAG_LIMIT = 'max_generator_lag = "2s"\n'


def test_a_stamped_id_carries_its_send_time_to_the_microsecond() -> None:
    message_id = stamped("fast-3-17", 1765085267.1234567)
    assert message_id == "fast-3-17@1765085267123457"
    assert send_time(message_id) == pytest.approx(1765085267.123457, abs=1e-6)
    assert unstamped(message_id) == "fast-3-17"


@pytest.mark.parametrize("message_id", ["fast-3-17", "a@b", "x@", "x@12a", 17,
                                        "x@" + "9" * 18])
def test_an_id_without_a_stamp_has_no_send_time_and_stays_whole(message_id: object) -> None:
    assert send_time(message_id) is None
    assert unstamped(message_id) == str(message_id)


def test_the_counter_and_sender_are_read_past_the_stamp() -> None:
    delivered = Delivered(room="r", sender=None, id=stamped("slow-0-42", 1.5), sent_at=None,
                          seq=None)
    assert delivered.counter == 42
    assert unstamped(delivered.id).rpartition("-")[0] == "slow-0"


def _distributed_run(tmp_path: Path, target: list[str], protocol: str = "") -> Path:
    """A real run of the short JSON-server scenario under ``--workers 2``; it must PASS.
    Returns its run folder."""
    results = tmp_path / "results"
    scenario = tmp_path / "json-server.toml"
    # 10 s of load, not 5: deliveries that arrive after Locust's test_stop count as received
    # but are not sampled (a fixed handful), so a longer run measures the ratio, not the tail.
    text = SCENARIO.replace("{checks}", GOOD_CHECKS).replace('warmup = "5s"', 'warmup = "10s"')
    assert 'warmup = "10s"' in text
    scenario.write_text(text + LAG_LIMIT + protocol)
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), *target, "--workers", "2",
         "--results-dir", str(results), "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    [result_file] = results.glob("**/result.json")
    result = json.loads(result_file.read_text())
    assert_nothing_left(result, results)
    master_log = (result_file.parent / "locust.log").read_text()
    _assert_no_member_crashed(master_log)
    # The master collects every worker's shipments (order.jsonl's included).
    assert "Unknown message type" not in master_log, master_log[-1000:]
    assert completed.returncode == 0, (result["verdict"], completed.stderr[-2000:])
    return result_file.parent


def _timed_and_received(run_dir: Path) -> tuple[int, int, set[str]]:
    """Deliveries timed (``deliver`` samples), deliveries received (order.jsonl), and the
    workers that timed them."""
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").open()]
    delivers: list[dict[str, Any]] = [s for s in samples if s["op"] == "deliver" and s["ok"]]
    received = sum(int(line.get("received", 0)) for line in
                   map(json.loads, (run_dir / "order.jsonl").open()))
    return len(delivers), received, {str(s["worker"]) for s in delivers}


@pytest.mark.integration
@pytest.mark.parametrize("server", ["sent_at field (bundled)", "no send-time field (json)"])
def test_under_two_workers_at_least_95_percent_of_deliveries_are_timed(
        tmp_path: Path, server: str) -> None:
    if server.startswith("sent_at"):
        run_dir = _distributed_run(tmp_path, ["--mode", "fixed"])
    else:
        with connect_server() as url:
            run_dir = _distributed_run(tmp_path, ["--target-url", url + "/chat"],
                                       CONNECT_PROTOCOL)
    timed, received, workers = _timed_and_received(run_dir)
    assert received >= 40, received
    assert timed >= 0.95 * received, f"{timed} of {received} deliveries timed"
    assert len(workers) == 2, workers
