"""Tests for harness.scenario: loading, defaults and one-line error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import FAULT_KINDS, ToxicSpec
from harness.scenario import (
    LOAD_KEYS,
    TARGET_KEYS,
    THRESHOLD_KEYS,
    TIMING_KEYS,
    TOP_LEVEL_KEYS,
    LoadSettings,
    Scenario,
    ScenarioError,
    TargetSettings,
    TimingSettings,
    load_scenario,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SLOW_MEMBER = REPO_ROOT / "scenarios" / "slow-member.toml"


def write_scenario(tmp_path: Path, text: str, file_name: str = "case.toml") -> Path:
    path = tmp_path / file_name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    """Load ``text`` expecting a ScenarioError; return its message after checking its shape."""
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    return message


def test_slow_member_scenario_loads_with_the_documented_values() -> None:
    scenario = load_scenario(SLOW_MEMBER)
    assert scenario.name == "slow-member"
    assert "stalls joins" in scenario.description
    assert scenario.target == TargetSettings(10.0, 0.1, 0.25)
    assert scenario.load == LoadSettings(1, 12, 1, 12.0, 0.2, 2.0, 0.2)
    assert scenario.load.fast_members == 11
    assert scenario.timing == TimingSettings(4.0, 12.0, 2.0)
    assert scenario.total_duration == pytest.approx(18.0)
    assert (scenario.timing.warmup_s, scenario.timing.fault_s) == (4.0, 12.0)
    assert scenario.source_path == SLOW_MEMBER
    assert [fault.toxic() for fault in scenario.faults] == [
        ToxicSpec("latency", "downstream", {"latency": 500, "jitter": 50})
    ]
    assert [check.text for check in scenario.thresholds.checks] == [
        "join[fast].p99 < 250ms",
        "deliver[fast].p99 < 250ms",
        "deliver[fast].lost < 0.01",
        "lock_reports == 0",
        "errors.ratio < 0.01",
    ]
    assert scenario.thresholds.min_samples == 20
    assert [check.text for check in scenario.thresholds.abort_on_fail] == ["lock_reports == 0"]


def test_defaults_match_slow_member_except_faults(tmp_path: Path) -> None:
    minimal = load_scenario(write_scenario(tmp_path, 'name = "minimal"\n'))
    reference = load_scenario(SLOW_MEMBER)
    assert minimal.target == reference.target
    assert minimal.load == reference.load
    assert minimal.timing == reference.timing
    assert minimal.thresholds.checks == reference.thresholds.checks
    assert minimal.thresholds.min_samples == reference.thresholds.min_samples
    assert minimal.thresholds.abort_on_fail == ()  # early verdicts are opt-in
    assert minimal.faults == ()
    assert minimal.description == ""


def test_scenario_is_frozen() -> None:
    scenario = load_scenario(SLOW_MEMBER)
    with pytest.raises(AttributeError):
        scenario.name = "other"  # type: ignore[misc]


def test_to_dict_is_json_ready_and_complete() -> None:
    scenario_dict = json.loads(json.dumps(load_scenario(SLOW_MEMBER).to_dict()))
    assert scenario_dict["name"] == "slow-member"
    assert scenario_dict["load"]["fast_members"] == 11
    assert scenario_dict["timing"]["total_s"] == pytest.approx(18.0)
    assert scenario_dict["faults"] == [
        {
            "kind": "latency",
            "stream": "downstream",
            "latency_ms": 500,
            "jitter_ms": 50,
            "toxic": {
                "type": "latency",
                "stream": "downstream",
                "attributes": {"latency": 500, "jitter": 50},
            },
        }
    ]
    assert scenario_dict["thresholds"]["checks"][3] == "lock_reports == 0"


def test_bandwidth_fault_and_upstream_stream(tmp_path: Path) -> None:
    scenario = load_scenario(
        write_scenario(
            tmp_path,
            'name = "bw"\n[[faults]]\nkind = "bandwidth"\nrate = "64KB/s"\nstream = "upstream"\n',
        )
    )
    assert scenario.faults[0].toxic() == ToxicSpec("bandwidth", "upstream", {"rate": 64})
    assert set(FAULT_KINDS) == {"latency", "bandwidth", "slicer", "stall", "reconnect"}


def test_slicer_fault(tmp_path: Path) -> None:
    scenario = load_scenario(
        write_scenario(
            tmp_path,
            'name = "sl"\n[[faults]]\nkind = "slicer"\naverage_size = 64\nsize_variation = 16\n'
            'delay = "10ms"\n',
        )
    )
    assert scenario.faults[0].toxic() == ToxicSpec(
        "slicer", "downstream", {"average_size": 64, "size_variation": 16, "delay": 10_000})
    assert scenario.to_dict()["faults"][0]["delay_us"] == 10_000
    minimal = load_scenario(
        write_scenario(tmp_path, 'name = "sl"\n[[faults]]\nkind = "slicer"\naverage_size = 8\n')
    )
    assert minimal.faults[0].toxic().attributes == {
        "average_size": 8, "size_variation": 0, "delay": 0}


def test_abort_on_fail_matches_checks_by_meaning_not_spelling(tmp_path: Path) -> None:
    scenario = load_scenario(
        write_scenario(
            tmp_path,
            'name = "a"\n[thresholds]\nchecks = ["join.p99 < 1s", "lock_reports == 0"]\n'
            'abort_on_fail = ["join[all].p99<1000ms"]\n',
        )
    )
    assert [check.text for check in scenario.thresholds.abort_on_fail] == ["join.p99 < 1s"]


def test_empty_checks_are_allowed(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, 'name = "a"\n[thresholds]\nchecks = []\n'))
    assert scenario.thresholds.checks == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # TOML syntax
        ('name = "x"\n[load]\nstay = 2s\n', "invalid TOML"),
        ('name = "x"\n[load\n', "invalid TOML"),
        # unknown keys, with suggestions
        (
            'name = "x"\n[load]\nmembrs = 3\n',
            "unknown key 'membrs' in [load]; did you mean 'members'? (allowed: rooms, members",
        ),
        ('name = "x"\nlod = 1\n', "unknown key 'lod' at top level; did you mean 'load'?"),
        ('name = "x"\n[target]\nsend_timout = "1s"\n', "did you mean 'send_timeout'?"),
        ('name = "x"\n[timing]\nwarm_up = "1s"\n', "did you mean 'warmup'?"),
        ('name = "x"\n[thresholds]\ncheck = []\n', "did you mean 'checks'?"),
        (
            'name = "x"\n[[faults]]\nkind = "latency"\nlatency = "5ms"\njiter = "1ms"\n',
            "unknown key 'jiter' in [[faults]] #1 (kind = \"latency\"); did you mean 'jitter'?",
        ),
        ('name = "x"\n[[faults]]\nkind = "latncy"\n', "unknown kind 'latncy'; did you mean"),
        ('name = "x"\n[[faults]]\nlatency = "5ms"\n', "[[faults]] #1 has no kind"),
        # required keys and types
        ("[load]\nrooms = 1\n", "missing required key 'name'"),
        ('name = "has space"\n', 'try name = "has-space"'),
        ("name = 3\n", "name must be a string"),
        ('name = "x"\n[load]\nmembers = "12"\n', "members must be an integer, got string"),
        ('name = "x"\n[load]\nmembers = 1.5\n', "members must be an integer, got float"),
        ('name = "x"\n[load]\nspawn_rate = "fast"\n', "spawn_rate must be a number"),
        ('name = "x"\nload = 3\n', "'load' must be a table"),
        ('name = "x"\n[faults]\nkind = "latency"\n', "write [[faults]] (double brackets)"),
        ('name = "x"\n[thresholds]\nchecks = "lock_reports == 0"\n', "array of strings"),
        # durations
        ('name = "x"\n[timing]\nwarmup = "four"\n', "[timing] warmup: invalid duration 'four'"),
        ('name = "x"\n[timing]\nwarmup = "-1s"\n', "[timing] warmup: invalid duration"),
        ('name = "x"\n[load]\nstay = true\n', "[load] stay: invalid duration"),
        ('name = "x"\n[target]\nsend_timeout = "0s"\n', "[target] send_timeout must be > 0"),
        # impossible numbers
        ('name = "x"\n[load]\nmembers = 0\n', "members must be >= 1"),
        ('name = "x"\n[load]\nrooms = 0\n', "rooms must be >= 1"),
        ('name = "x"\n[load]\nrooms = 13\n', "rooms (13) > members (12)"),
        ('name = "x"\n[load]\nslow_members = 13\n', "slow_members (13) > members (12)"),
        ('name = "x"\n[load]\nslow_members = -1\n', "slow_members must be >= 0"),
        ('name = "x"\n[load]\nspawn_rate = 0\n', "spawn_rate must be > 0"),
        ('name = "x"\n[load]\nbroadcast_interval = "0s"\n', "broadcast_interval must be > 0"),
        (
            'name = "x"\n[timing]\nwarmup = 0\nfault = 0\ncooldown = 0\n',
            "the run must last > 0s",
        ),
        ('name = "x"\n[thresholds]\nmin_samples = 0\n', "min_samples must be >= 1"),
        # faults that cannot work
        (
            'name = "x"\n[load]\nslow_members = 0\n[[faults]]\nkind = "latency"\nlatency = "1s"\n',
            "no member goes through a faulty proxy",
        ),
        (
            'name = "x"\n[timing]\nfault = "0s"\n[[faults]]\nkind = "latency"\nlatency = "1s"\n',
            "they would never be active",
        ),
        ('name = "x"\n[[faults]]\nkind = "latency"\n', "missing required key 'latency'"),
        ('name = "x"\n[[faults]]\nkind = "latency"\nlatency = "-1ms"\n', "'-1ms'"),
        (
            'name = "x"\n[[faults]]\nkind = "latency"\nlatency = "1.5ms"\n',
            "whole number of milliseconds",
        ),
        (
            'name = "x"\n[[faults]]\nkind = "latency"\nlatency = "5ms"\njitter = "6ms"\n',
            "jitter (6 ms) must not exceed latency (5 ms)",
        ),
        (
            'name = "x"\n[[faults]]\nkind = "latency"\nlatency = "5ms"\nstream = "down"\n',
            'stream must be "downstream"',
        ),
        ('name = "x"\n[[faults]]\nkind = "bandwidth"\nrate = "0KB/s"\n', "rate must be > 0 KB/s"),
        ('name = "x"\n[[faults]]\nkind = "bandwidth"\nrate = 64\n', 'like "64KB/s"'),
        ('name = "x"\n[[faults]]\nkind = "slicer"\n', "missing required key 'average_size'"),
        ('name = "x"\n[[faults]]\nkind = "slicer"\naverage_size = 0\n', "from 1 to 1048576"),
        ('name = "x"\n[[faults]]\nkind = "slicer"\naverage_size = "64"\n', "whole number of"),
        (
            'name = "x"\n[[faults]]\nkind = "slicer"\naverage_size = 8\nsize_variation = 8\n',
            "size_variation (8 bytes) must be >= 0 and below average_size (8 bytes)",
        ),
        (
            'name = "x"\n[[faults]]\nkind = "slicer"\naverage_size = 8\ndelay = "1.5us"\n',
            "whole number of microseconds",
        ),
        (
            'name = "x"\n[[faults]]\nkind = "slicer"\naverage_size = 8\ndelay = "11s"\n',
            "delay must be from 0 to 10s",
        ),
        # thresholds
        (
            'name = "x"\n[thresholds]\nchecks = ["jion[fast].p99 < 250ms"]\n',
            "[thresholds] checks: unknown subject 'jion[fast].p99'",
        ),
        (
            'name = "x"\n[thresholds]\nchecks = ["join[fast].p150 < 250ms"]\n',
            "percentile 'p150' is outside 0..100",
        ),
        (
            'name = "x"\n[thresholds]\nchecks = ["lock_reports == 0", "lock_reports==0"]\n',
            "twice",
        ),
        (
            'name = "x"\n[thresholds]\nchecks = ["lock_reports == 0"]\nabort_on_fail = ["x"]\n',
            "[thresholds] abort_on_fail: cannot read check 'x'",
        ),
        (
            'name = "x"\n[thresholds]\nchecks = ["lock_reports == 0"]\n'
            'abort_on_fail = ["errors.count == 0"]\n',
            "abort_on_fail entry 'errors.count == 0' is not one of the checks",
        ),
        (
            'name = "x"\n[load]\nmembers = 2\nslow_members = 2\n',
            "needs fast members but every member is slow",
        ),
        (
            'name = "x"\n[load]\nslow_members = 0\n'
            '[thresholds]\nchecks = ["join[slow].max < 1s"]\n',
            "needs slow members but slow_members = 0",
        ),
    ],
)
def test_each_problem_is_one_line_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_toml_error_quotes_the_line_and_hints_at_quotes(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'name = "x"\n[load]\nstay = 2s\n')
    assert "line 3" in message
    assert "`stay = 2s`" in message
    assert 'need quotes, e.g. stay = "2s"' in message


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError, match=r"absent\.toml: cannot read file"):
        load_scenario(path)


def test_non_utf8_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(path)


def test_scenario_error_keeps_path_and_problem() -> None:
    error = ScenarioError("scenarios/x.toml", "bad\nthing")
    assert str(error) == "scenarios/x.toml: bad thing"
    assert error.path == "scenarios/x.toml"
    assert error.problem == "bad thing"


def test_command_line_prints_one_line_without_traceback(tmp_path: Path) -> None:
    bad = write_scenario(tmp_path, 'name = "x"\n[load]\nmembrs = 3\n', "bad.toml")
    completed = subprocess.run(
        [sys.executable, "-m", "harness.scenario", str(SLOW_MEMBER), str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"{bad}: unknown key 'membrs' in [load]; did you mean 'members'? (allowed: "
        "rooms, members, slow_members, spawn_rate, broadcast_interval, stay, away, body_size, "
            "op_timeout)"
    ]
    assert "slow-member.toml: ok: slow-member" in completed.stdout


def test_readme_documents_every_key() -> None:
    readme = (REPO_ROOT / "scenarios" / "README.md").read_text(encoding="utf-8")
    keys = [*TOP_LEVEL_KEYS, *TARGET_KEYS, *LOAD_KEYS, *TIMING_KEYS, *THRESHOLD_KEYS, "kind"]
    keys += ["stream", *(key for kind in FAULT_KINDS.values() for key in kind.keys)]
    for key in keys:
        assert f"`{key}`" in readme or f"[{key}]" in readme, key


def test_scenario_type_is_exported() -> None:
    assert isinstance(load_scenario(SLOW_MEMBER), Scenario)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\n[load]\nmembers = 1000000000000000000000000000000\n',
         "[load] members must be at most 10000, got 1000000000000000000000000000000"),
        ('name = "x"\n[timing]\nwarmup = "1e300s"\n',
         "[timing] warmup is 1e+300s, more than the allowed 86400s"),
        ('name = "x"\n[load]\nspawn_rate = 1e-300\n',
         "[load] spawn_rate (users per second) must be 0.1..10000, got 1e-300"),
        ('name = "x"\n[load]\nspawn_rate = nan\n', "must be 0.1..10000, got nan"),
        ('name = "x"\n[load]\nspawn_rate = inf\n', "must be 0.1..10000, got inf"),
        ('name = "x"\n[target]\nsend_timeout = "1e300s"\n',
         "[target] send_timeout is 1e+300s, more than the allowed 3600s"),
        ('name = "x"\n[thresholds]\nmin_samples = 100000000000000000000\n',
         "[thresholds] min_samples must be at most 1000000, got 100000000000000000000"),
        ('name = "x"\n[load]\nstay = "2000h"\n', "[load] stay: invalid duration"),
        ('name = "x"\n[load]\nstay = "61m"\n', "[load] stay is 3660s, more than the allowed"),
        ('name = "x"\n[load]\nmembers = 2000\nslow_members = 1001\n',
         "slow_members must be at most 1000"),
    ],
)
def test_impossible_numbers_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_bounds_allow_the_extremes(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, (
        'name = "x"\n[load]\nmembers = 10000\nspawn_rate = 0.1\nstay = "60m"\n'
        '[timing]\nwarmup = "1440m"\n[thresholds]\nmin_samples = 1000000\n')))
    assert scenario.load.members == 10_000
    assert scenario.timing.warmup_s == 86_400


def test_scenario_size_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text('name = "x"\n' + "# padding\n" * 200_000)
    with pytest.raises(ScenarioError, match=r"huge\.toml: cannot read file: larger than 1024 KiB"):
        load_scenario(path)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_special_files_are_one_line_and_exit_2(tmp_path: Path, special: str) -> None:
    """/dev/zero used to fill memory (MemoryError), a FIFO to hang forever."""
    if special == "fifo":
        path = str(tmp_path / "scenario.fifo")
        os.mkfifo(path)
    elif special == "directory":
        path = str(tmp_path)
    else:
        path = special
    for argv in (["-m", "harness", "run", path, "--quiet", "--results-dir", str(tmp_path)],
                 ["-m", "harness.scenario", path]):
        completed = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                                   cwd=REPO_ROOT, timeout=30, check=False)
        assert completed.returncode == 2, completed.stderr
        [line] = completed.stderr.strip().splitlines()
        assert f"{path}: cannot read file: " in line
        assert "regular file" in line or "directory" in line, line


def test_max_generator_lag_is_a_bounded_duration(tmp_path: Path) -> None:
    assert load_scenario(SLOW_MEMBER).thresholds.max_generator_lag_s == pytest.approx(0.1)
    lenient = load_scenario(write_scenario(
        tmp_path, 'name = "x"\n[thresholds]\nmax_generator_lag = "2s"\n'))
    assert lenient.thresholds.max_generator_lag_s == 2.0
    assert lenient.to_dict()["thresholds"]["max_generator_lag_s"] == 2.0
    assert "max_generator_lag must be > 0" in load_error(
        tmp_path, 'name = "x"\n[thresholds]\nmax_generator_lag = 0\n')
    assert "more than the allowed 3600s" in load_error(
        tmp_path, 'name = "x"\n[thresholds]\nmax_generator_lag = "120m"\n')


def test_target_delivery_is_ack_or_write(tmp_path: Path) -> None:
    assert load_scenario(SLOW_MEMBER).target.delivery == "ack"
    written = load_scenario(write_scenario(tmp_path, 'name = "x"\n[target]\ndelivery = "write"\n'))
    assert written.target.delivery == "write"
    assert written.to_dict()["target"]["delivery"] == "write"
    problem = load_error(tmp_path, 'name = "x"\n[target]\ndelivery = "writ"\n')
    assert "[target] delivery 'writ' is unknown; did you mean 'write'?" in problem
    assert "must be a string" in load_error(tmp_path, 'name = "x"\n[target]\ndelivery = 1\n')


def test_target_metrics_url_is_a_loopback_http_url(tmp_path: Path) -> None:
    assert load_scenario(SLOW_MEMBER).target.metrics_url is None
    given = load_scenario(write_scenario(
        tmp_path, 'name = "x"\n[target]\nmetrics_url = "http://127.0.0.1:9100/metrics"\n'))
    assert given.target.metrics_url == "http://127.0.0.1:9100/metrics"
    assert "is not a loopback address" in load_error(
        tmp_path, 'name = "x"\n[target]\nmetrics_url = "http://10.0.0.1:9100/metrics"\n')
    assert "[target] metrics_url 'http://127.0.0.1/metrics' has no port" in load_error(
        tmp_path, 'name = "x"\n[target]\nmetrics_url = "http://127.0.0.1/metrics"\n')


def test_target_delivery_is_refused_for_a_server_without_it(tmp_path: Path) -> None:
    problem = load_error(
        tmp_path, 'name = "x"\n[target]\nserver = "socketio"\ndelivery = "write"\n')
    assert "[target] delivery does not apply to the socketio server; drop it" in problem
    assert "roomserver" in problem


def test_op_timeout_defaults_below_a_fault_window_and_bad_values_get_one_line(
        tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n')
    assert load_scenario(path).load.op_timeout_s == 5.0
    path.write_text('name = "x"\n[load]\nop_timeout = "2s"\n')
    assert load_scenario(path).load.op_timeout_s == 2.0
    for bad in ("0s", "900s"):
        path.write_text(f'name = "x"\n[load]\nop_timeout = "{bad}"\n')
        with pytest.raises(ScenarioError, match="op_timeout must be > 0 and at most 600s"):
            load_scenario(path)
