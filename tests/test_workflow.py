""".github/workflows/nightly.yml: actionlint accepts it, and it does what the nightly run needs.

actionlint is built by ``make lint`` (a pinned ``go install`` into ``.tools/bin``). Without
it these lint tests skip on a developer machine but fail under CI (``CI`` set), so the check
cannot silently vanish where it matters. Broken copies of the workflow must be rejected, so
the lint test can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.target import PROJECT_ROOT
from tests.missing_setup import skip_missing_setup

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "nightly.yml"


def actionlint() -> str:
    local = PROJECT_ROOT / ".tools" / "bin" / "actionlint"
    found = str(local) if local.exists() else shutil.which("actionlint")
    if found is None:
        message = "actionlint is not installed; `make lint` builds it into .tools/bin"
        skip_missing_setup(message)
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([actionlint(), "-no-color", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=PROJECT_ROOT)


def test_actionlint_accepts_the_workflow() -> None:
    completed = lint(WORKFLOW)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('cron: "17 3 * * *"', 'cron: "61 3 * * *"', "cron"),
        ("          path: results/\n", "          paths: results/\n", "path"),
        ("if: ${{ always() }}", "if: ${{ always() && steps.nope.outcome }}", "nope"),
    ],
)
def test_actionlint_rejects_a_broken_workflow(tmp_path: Path, old: str, new: str,
                                              complaint: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "nightly.yml"
    broken.write_text(text.replace(old, new, 1))
    completed = lint(broken)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert complaint in completed.stdout


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    return list(job["steps"])


def step_using(workflow: dict[str, Any], action: str) -> tuple[int, dict[str, Any]]:
    matches = [(index, step) for index, step in enumerate(steps(workflow))
               if str(step.get("uses", "")).split("@")[0] == action]
    assert len(matches) == 1, f"expected one step using {action}"
    return matches[0]


def test_runs_nightly_and_on_demand(workflow: dict[str, Any]) -> None:
    # YAML 1.1 reads a bare `on` as true
    [triggers] = [value for key, value in workflow.items() if key in ("on", True)]
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert [entry["cron"] for entry in triggers["schedule"]] == ["17 3 * * *"]


def test_sets_up_python_3_11_and_go(workflow: dict[str, Any]) -> None:
    _, python = step_using(workflow, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    _, go = step_using(workflow, "actions/setup-go")
    assert go["with"]["go-version"]


def test_make_chaos_failing_fails_the_job(workflow: dict[str, Any]) -> None:
    [(index, chaos)] = [(i, s) for i, s in enumerate(steps(workflow))
                        if str(s.get("run", "")).strip() == "make chaos"]
    assert "continue-on-error" not in chaos and "if" not in chaos
    [job] = workflow["jobs"].values()
    assert "continue-on-error" not in job
    upload_index, upload = step_using(workflow, "actions/upload-artifact")
    assert upload_index > index
    assert upload["if"] == "${{ always() }}"  # uploaded even when the chaos run failed
    assert upload["with"]["path"] == "results/"


def test_junit_results_are_published_even_on_failure(workflow: dict[str, Any]) -> None:
    _, publish = step_using(workflow, "EnricoMi/publish-unit-test-result-action")
    assert publish["if"].startswith("${{ always()")
    assert publish["with"]["files"] == "results/**/junit.xml"
    assert workflow["permissions"]["checks"] == "write"


def test_trend_regression_fails_the_job(workflow: dict[str, Any]) -> None:
    [trend] = [s for s in steps(workflow) if "harness trend" in str(s.get("run", ""))]
    assert 'exit "$status"' in trend["run"]
    assert "continue-on-error" not in trend
