"""Distributed Locust: a master and two local workers give the same verdict and
counts as one process, and slow-member assignment happens once, on the master."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_chaos_run import assert_nothing_left, harness, write_scenario

pytestmark = pytest.mark.integration


def run(tmp_path: Path, mode: str, workers: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    results = tmp_path / f"{mode}-{workers}"
    completed = harness("run", str(write_scenario(tmp_path, fault="5s")), "--mode", mode,
                        "--workers", str(workers), results=results)
    [result_file] = results.glob("**/result.json")
    result = json.loads(result_file.read_text())
    samples = [json.loads(line) for line in (result_file.parent / "samples.jsonl").open()]
    assert completed.returncode == result["verdict"]["exit_code"]
    assert_nothing_left(result, results)
    return result, samples


@pytest.mark.parametrize("mode", ["naive", "fixed"])
def test_two_workers_match_one_process(tmp_path: Path, mode: str) -> None:
    single, single_samples = run(tmp_path, mode, workers=0)
    distributed, distributed_samples = run(tmp_path, mode, workers=2)
    assert distributed["verdict"]["status"] == single["verdict"]["status"]
    assert single["verdict"]["status"] == ("FAIL" if mode == "naive" else "PASS")
    # The work really was spread over both workers.
    per_worker = collections.Counter(sample["worker"] for sample in distributed_samples)
    assert len(per_worker) == 2 and min(per_worker.values()) > 0.25 * len(distributed_samples)
    # One slow member in all, and the same members, whichever process ran them.
    for samples in (single_samples, distributed_samples):
        members = {sample["member"]: sample["member_kind"] for sample in samples}
        assert len(members) == 8
        assert list(members.values()).count("slow") == 1
    # Counts agree within what timing allows.
    joins = [sum(1 for s in samples if s["op"] == "join" and s["member_kind"] == "fast")
             for samples in (single_samples, distributed_samples)]
    assert abs(joins[0] - joins[1]) <= 0.3 * max(joins), joins
    assert len(distributed["extra"]["pids"]["locust_workers"]) == 2
    # Every Locust process measured its own lag, and the master wrote all of them.
    assert set(single["measured"]["generator_lag"]["processes"]) == {"local"}
    assert set(distributed["measured"]["generator_lag"]["processes"]) == {
        "master", "worker-0", "worker-1"}
    run_dir = next((tmp_path / f"{mode}-2").glob("**/result.json")).parent
    worker_log = (run_dir / "locust-worker-0.log").read_text()
    assert "Unknown message type" not in worker_log, worker_log[-500:]
