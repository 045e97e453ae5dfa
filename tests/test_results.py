"""Tests for harness.reports.results: result.json, junit.xml and the summary table."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from harness.checker.verdict import Verdict, judge
from harness.measure.measurements import Measurements, Sample
from harness.reports.results import format_summary_table, write_junit_xml, write_result_json
from harness.scenario import Scenario
from tests.verdicts import error_verdict, samples


def mixed_run() -> Measurements:
    """join[fast] broken, deliver[fast] without data, lock_reports broken, errors holding."""
    return Measurements(
        samples=[*samples("join", "fast", 812.0, 100), *samples("join", "slow", 900.0, 5)],
        lock_reports=[{"kind": "wait", "lock": "rooms", "duration_s": 0.6, "time": 1005.0}],
        run_started=1_700_000_000.0,
        run_ended=1_700_000_018.5,
        fault_started=1_700_000_004.0,
        fault_ended=1_700_000_016.0,
    )


def test_result_json_round_trips(tmp_path: Path, scenario: Scenario) -> None:
    measurements = mixed_run()
    verdict = judge(scenario, measurements)
    path = write_result_json(
        tmp_path, scenario, "naive", verdict, measurements, {"git_rev": "abc", "odd": math.nan}
    )
    assert path == tmp_path / "result.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["mode"] == "naive"
    assert result["scenario"] == json.loads(json.dumps(scenario.to_dict()))
    assert result["verdict"]["status"] == "FAIL"
    assert result["verdict"]["exit_code"] == 1
    assert result["verdict"]["message"] == verdict.message
    assert [(t["check"], t["status"]) for t in result["thresholds"]] == [
        ("join[fast].p99 < 250ms", "broken"),
        ("deliver[fast].p99 < 250ms", "no_data"),
        ("deliver[fast].lost < 0.01", "no_data"),
        ("lock_reports == 0", "broken"),
        ("errors.ratio < 0.01", "holding"),
    ]
    join_threshold = result["thresholds"][0]
    assert join_threshold["measured"] == 812.0
    assert join_threshold["limit"] == 250.0
    assert join_threshold["unit"] == "ms"
    assert join_threshold["samples"] == 100
    assert result["thresholds"][1]["measured"] is None
    assert result["measured"]["samples"] == 105
    assert result["measured"]["lock_reports"] == 1
    assert result["measured"]["latency_ms"]["join"]["fast"]["p99_ms"] == 812.0
    assert result["measured"]["latency_ms"]["join"]["slow"]["samples"] == 5
    assert result["lock_reports"] == measurements.lock_reports
    assert result["timings"]["duration_s"] == pytest.approx(18.5)
    assert result["timings"]["fault_started"] == 1_700_000_004.0
    assert result["timings"]["run_started_utc"].startswith("2023-11-14T22:13:20")
    assert result["extra"] == {"git_rev": "abc", "odd": None}
    assert not list(tmp_path.glob(".*.tmp"))


def test_junit_has_one_testcase_per_check(tmp_path: Path, scenario: Scenario) -> None:
    verdict = judge(scenario, mixed_run())
    path = write_junit_xml(
        tmp_path, "slow-member-naive", verdict, started_at=1_700_000_000.0, duration_s=18.5
    )
    root = ElementTree.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.attrib["name"] == "slow-member-naive"
    assert suite.attrib["tests"] == "5"
    assert suite.attrib["failures"] == "2"
    assert suite.attrib["errors"] == "2"
    assert suite.attrib["time"] == "18.500"
    assert suite.attrib["timestamp"] == "2023-11-14T22:13:20"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.attrib["timestamp"])
    for required in ("package", "id", "hostname"):
        assert suite.attrib[required]
    cases = suite.findall("testcase")
    assert [case.attrib["name"] for case in cases] == [
        check.text for check in scenario.thresholds.checks
    ]
    join_case, deliver_case, lost_case, lock_case, errors_case = cases
    failure = join_case.find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "join[fast].p99 = 812 ms (limit < 250 ms)"
    assert failure.attrib["type"]
    error = deliver_case.find("error")
    assert error is not None
    assert error.attrib["message"] == "deliver[fast].p99 has 0 samples, needs 20"
    assert error.attrib["type"]
    assert lost_case.find("error") is not None  # deliver[fast].lost: not measured here
    assert lock_case.find("failure") is not None
    assert list(errors_case) == []
    for case in cases:
        assert case.attrib["classname"] and case.attrib["time"]


def test_junit_follows_the_xsd_element_order(tmp_path: Path, scenario: Scenario) -> None:
    verdict = judge(scenario, mixed_run())
    suite = ElementTree.parse(write_junit_xml(tmp_path, "run", verdict)).getroot()[0]
    tags = [child.tag for child in suite]
    assert tags[0] == "properties"
    assert tags[-2:] == ["system-out", "system-err"]
    assert set(tags[1:-2]) == {"testcase"}
    assert root_has_no_attributes(tmp_path / "junit.xml")


def root_has_no_attributes(path: Path) -> bool:
    """The Ant JUnit XSD allows no attributes on <testsuites>."""
    return ElementTree.parse(path).getroot().attrib == {}


def test_junit_reports_component_errors_as_an_extra_error_case(
    tmp_path: Path, scenario: Scenario
) -> None:
    measurements = mixed_run()
    measurements.component_errors.append("target exited with code -9 at 12.3s")
    verdict = judge(scenario, measurements)
    suite = ElementTree.parse(write_junit_xml(tmp_path, "run", verdict)).getroot()[0]
    assert suite.attrib["tests"] == "6"
    assert suite.attrib["errors"] == "3"
    last_case = suite.findall("testcase")[-1]
    assert last_case.attrib["name"] == "harness components"
    error = last_case.find("error")
    assert error is not None
    assert error.attrib["message"] == "target exited with code -9 at 12.3s"


def test_junit_for_a_run_that_never_started(tmp_path: Path) -> None:
    verdict = error_verdict("toxiproxy-server not found\x00")
    suite = ElementTree.parse(write_junit_xml(tmp_path, "run", verdict)).getroot()[0]
    assert suite.attrib["tests"] == "1"
    assert suite.attrib["errors"] == "1"


def test_summary_table_is_aligned(scenario: Scenario) -> None:
    table = format_summary_table(judge(scenario, mixed_run()))
    lines = table.splitlines()
    assert lines[0].split() == ["check", "limit", "measured", "samples", "status"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + 5
    assert "join[fast].p99" in lines[2] and "< 250 ms" in lines[2] and "812 ms" in lines[2]
    assert "n/a" in lines[3] and "no_data" in lines[3]
    assert lines[6].split()[-1] == "holding"
    limit_column = lines[0].index("limit")
    assert all(line[limit_column - 2 : limit_column] == "  " for line in lines)
    assert all(line[limit_column] != " " for line in lines)


def refused_run() -> Measurements:
    """Every join closed by the server on its join frame: nothing was tested."""
    return Measurements(
        samples=[Sample(1_700_000_000.5 + i, "join", "fast", 2.0, False,
                        "connection closed (WebSocketConnectionClosedException: closed by "
                        "server (code 3501: join refused))") for i in range(30)],
        run_started=1_700_000_000.0, run_ended=1_700_000_018.5)


def test_not_tested_checks_are_junit_errors_with_the_cause(tmp_path: Path, scenario: Scenario
                                                          ) -> None:
    verdict = judge(scenario, refused_run())
    assert verdict.status == "ERROR"
    suite = ElementTree.parse(write_junit_xml(tmp_path, "run", verdict)).getroot()[0]
    # join[fast].p99 and errors.ratio (broken at 1, but nothing got through): not tested;
    # deliver[fast].p99 and deliver[fast].lost have no data; lock_reports holds.
    assert (suite.attrib["failures"], suite.attrib["errors"]) == ("0", "4")
    join_case, _, _, _, errors_case = suite.findall("testcase")
    for case in (join_case, errors_case):
        error = case.find("error")
        assert error is not None and error.attrib["type"] == "not_tested"
        assert "closed with code 3501 (join refused) (30 attempts, none succeeded)" in (
            error.attrib["message"])
    system_err = suite.find("system-err")
    assert system_err is not None and "every join[fast] closed with code 3501" in str(
        system_err.text)


def test_not_tested_is_in_result_json_and_the_summary_table(tmp_path: Path,
                                                            scenario: Scenario) -> None:
    measured = refused_run()
    verdict = judge(scenario, measured)
    result = json.loads(write_result_json(tmp_path, scenario, "external", verdict, measured,
                                          {}).read_text())
    [join, errors] = result["verdict"]["not_tested"]
    assert (join["check"], join["observed"], join["attempts"]) == (
        "join[fast].p99 < 250ms", "join[fast]", 30)
    assert join["causes"] == [{"cause": "closed with code 3501 (join refused)", "count": 30}]
    assert join["first_at_s"] == 0.5 and "code 3501" in join["first_error"]
    assert errors["observed"] == "operation"
    lines = format_summary_table(verdict).splitlines()
    assert lines[2].endswith("not tested") and lines[6].endswith("not tested")


def test_a_run_read_back_from_its_result_json_keeps_what_was_not_tested(
        tmp_path: Path, scenario: Scenario) -> None:
    """A run in its own network namespace is printed by the parent from result.json."""
    from harness.headless.one_run import outcome_from_result

    measured = refused_run()
    verdict = judge(scenario, measured)
    write_result_json(tmp_path, scenario, "fixed", verdict, measured, {})
    read = outcome_from_result(tmp_path, 2, None).verdict
    assert read.not_tested == verdict.not_tested and read.message == verdict.message
    assert format_summary_table(read) == format_summary_table(verdict)


def test_summary_table_without_checks() -> None:
    assert format_summary_table(Verdict("PASS", "PASS: no checks configured")) == "(no checks)"
