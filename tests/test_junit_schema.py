"""junit.xml validates against the JUnit XML schema CI test reporters read.

Every ``*.xsd`` in ``tests/data/junit/`` is used (see the header comment of each for its
origin and license); today that is the Jenkins xUnit plugin's ``junit-10.xsd``, the one
pytest validates its own JUnit XML against. The documents come from ``write_junit_xml`` on
verdicts of realistic runs: FAIL with broken and data-less checks, PASS, ERROR with
component errors, and a run that never started. A broken document must fail validation, so
the check can fail.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import xmlschema

from harness.checker.verdict import judge
from harness.measure.measurements import Measurements, Sample
from harness.reports.results import write_junit_xml
from harness.scenario import Scenario
from tests.verdicts import error_verdict

SCHEMAS = sorted((Path(__file__).parent / "data" / "junit").glob("*.xsd"))
START = 1_795_000_000.0


def test_there_is_a_schema() -> None:
    assert SCHEMAS, "tests/data/junit/ holds no JUnit XSD"


@pytest.fixture(scope="module", params=SCHEMAS, ids=[path.name for path in SCHEMAS])
def schema(request: pytest.FixtureRequest) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(request.param))


def samples(op: str, member_kind: str, latency_ms: float, count: int, ok: bool = True
            ) -> list[Sample]:
    return [Sample(START + i * 0.1, op, member_kind, latency_ms, ok,
                   None if ok else "timeout <after 10 s> & \x07bell") for i in range(count)]


def naive_fail() -> Measurements:
    """join[fast] broken, deliver[fast] without data, lock reports broken, errors holding."""
    return Measurements(
        samples=[*samples("join", "fast", 812.0, 100), *samples("join", "slow", 900.0, 5),
                 *samples("join", "fast", 10_000.0, 1, ok=False)],
        lock_reports=[{"kind": "wait", "lock": "room:room-0.members", "duration_s": 0.6,
                       "time": START + 5}],
        run_started=START, run_ended=START + 18.0,
        fault_started=START + 4.0, fault_ended=START + 16.0,
    )


def fixed_pass() -> Measurements:
    return Measurements(
        samples=[*samples("join", "fast", 12.0, 100), *samples("deliver", "fast", 9.0, 400)],
        run_started=START, run_ended=START + 18.0,
    )


def component_error() -> Measurements:
    measured = fixed_pass()
    measured.component_errors = ["target was killed by signal 9 12.3 s into the run",
                                 "Toxiproxy API call DELETE /proxies/x/toxics/y hung for 5 s"]
    return measured


def nothing_seen() -> Measurements:
    """Every join refused: the target was not tested (ERROR naming the cause)."""
    return Measurements(samples=samples("join", "fast", 3.0, 40, ok=False),
                        run_started=START, run_ended=START + 18.0)


VERDICTS = {
    "fail": lambda s: judge(s, naive_fail()),
    "not-tested": lambda s: judge(s, nothing_seen()),
    "pass": lambda s: judge(s, fixed_pass()),
    "error": lambda s: judge(s, component_error()),
    "never-started": lambda s: error_verdict("toxiproxy-server exited with code 1 at start"),
}


@pytest.mark.parametrize("case", list(VERDICTS))
def test_junit_xml_is_valid(tmp_path: Path, scenario: Scenario, schema: xmlschema.XMLSchema,
                            case: str) -> None:
    verdict = VERDICTS[case](scenario)
    path = write_junit_xml(tmp_path, f"{scenario.name}[naive]", verdict, started_at=START,
                           duration_s=18.04)
    errors = [str(error) for error in schema.iter_errors(str(path))]
    assert errors == []
    suite = ElementTree.parse(path).getroot()[0]
    assert int(suite.get("tests", "0")) == len(suite.findall("testcase")) >= 1


def test_the_fail_case_carries_failures_and_errors(tmp_path: Path, scenario: Scenario) -> None:
    path = write_junit_xml(tmp_path, "run", VERDICTS["fail"](scenario))
    suite = ElementTree.parse(path).getroot()[0]
    # Errors: deliver[fast].p99 and deliver[fast].lost have no data.
    assert (suite.get("failures"), suite.get("errors")) == ("2", "2")
    assert len(suite.findall("testcase/failure")) == 2
    assert len(suite.findall("testcase/error")) == 2


def test_a_broken_document_does_not_validate(tmp_path: Path, scenario: Scenario,
                                             schema: xmlschema.XMLSchema) -> None:
    path = write_junit_xml(tmp_path, "run", VERDICTS["fail"](scenario))
    tree = ElementTree.parse(path)
    suite = tree.getroot()[0]
    del suite.attrib["tests"]  # required by every JUnit schema
    ElementTree.SubElement(suite, "verdict-banner")  # not a JUnit element
    broken = tmp_path / "broken.xml"
    tree.write(broken, encoding="utf-8", xml_declaration=True)
    assert not schema.is_valid(str(broken))
