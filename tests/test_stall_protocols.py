"""The stall with every protocol: json (join-by-connect, no acks) and socketio.

Real runs: real Locust, real Toxiproxy, a real server. The json server is
tests/jsonservers.py's join-by-connect server, whose relay sends with websockets' blocking
sync ``send``: a stalled member's full socket blocks it. The Socket.IO one is
targets/socketio_room. Each shows backpressure reached and how the stall cleared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jsonservers import connect_server
from tests.missing_setup import require_namespace
from tests.scenario_text import stall_of_one_in_four
from tests.test_chaos_run import assert_nothing_left, harness, only_result
from tests.test_protocol_json import CONNECT_PROTOCOL

THRESHOLDS = 'min_samples = 5\nchecks = ["errors.ratio < 0.5"]'


def stall_run(tmp_path: Path, kind: str, *args: str, protocol: str = "",
              **scenario: str) -> dict[str, Any]:
    """One real run with a stall; result.json (its verdict must not be a harness ERROR).

    ``scenario``: :func:`~tests.scenario_text.stall_of_one_in_four`'s ``header``,
    ``body_size`` and ``network``.
    """
    path = tmp_path / f"{kind}.toml"
    path.write_text(stall_of_one_in_four(f"stall-{kind}", thresholds=THRESHOLDS, **scenario)
                    + protocol)
    completed = harness("run", str(path), *args, results=tmp_path / "results", timeout=180)
    result = only_result(tmp_path / "results")
    assert_nothing_left(result, tmp_path / "results")
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    return result


def assert_backpressure_then_cleared(stall: dict[str, Any], how: str) -> None:
    [member] = stall["members"]
    assert member["backpressure_s"] is not None, stall["summary"]
    assert member["resumed_s"] is not None, stall["summary"]
    assert member["cleared"] == how, stall["summary"]
    assert stall["cleared"] is True, stall["summary"]
    assert member["deliveries_after_resume"] > 0, stall["summary"]  # it read again


@pytest.mark.integration
def test_a_stall_with_the_json_protocol_backs_up_a_join_by_connect_server(
        tmp_path: Path) -> None:
    # No namespace with a server given by URL: the machine's buffers (megabytes), so big
    # bodies fill them within the stall.
    with connect_server() as url:
        result = stall_run(tmp_path, "json", "--target-url", url + "/chat",
                           protocol=CONNECT_PROTOCOL)
    stall = result["extra"]["stall"]
    # The member reads its backlog after the lift and only then leaves (by closing).
    assert_backpressure_then_cleared(stall, "drained")


@pytest.mark.integration
def test_a_stall_with_the_socketio_protocol_backs_up_the_socketio_room(tmp_path: Path) -> None:
    require_namespace("small socket buffers")
    # python-socketio queues each client's packets without bound, so its emit never blocks;
    # what backs up is its writer: the socket's buffers fill, then the queue grows.
    result = stall_run(tmp_path, "socketio", "--mode", "fixed",
                       header='[target]\nserver = "socketio"', body_size="8KiB",
                       network='[network]\nsocket_buffer = "64KiB"')
    assert result["scenario"]["protocol"]["kind"] == "socketio"
    assert_backpressure_then_cleared(result["extra"]["stall"], "drained")
