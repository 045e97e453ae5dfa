"""A skip for missing own set-up is a skip on a developer machine and a failure under CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.target import PROJECT_ROOT
from tests.missing_setup import skip_missing_setup, under_ci

#: Set by the outer test: makes the probe below skip as if Toxiproxy were missing.
PROBE_ENV = "ROOMCHAOS_MISSING_SETUP_PROBE"


def test_probe_skips_for_missing_setup() -> None:
    if not os.environ.get(PROBE_ENV):
        return  # an ordinary session: nothing is missing here
    skip_missing_setup("toxiproxy-server 2.12.0 is not installed; run make install")


def run_probe(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env[PROBE_ENV] = "1"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         f"{__file__}::test_probe_skips_for_missing_setup"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_off_ci_a_missing_setup_is_a_skip_with_its_fix() -> None:
    completed = run_probe(None)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 skipped" in completed.stdout
    assert "missing set-up: toxiproxy-server 2.12.0 is not installed; run make install" in \
        completed.stdout


def test_under_ci_a_missing_setup_is_a_failure_with_one_line() -> None:
    completed = run_probe("true")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "1 failed" in completed.stdout
    reason = ("CI must not skip this test: missing set-up: toxiproxy-server 2.12.0 is not "
              "installed; run make install")
    assert reason in completed.stdout.splitlines(), completed.stdout


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), ("", False), ("false", False), ("0", False), ("true", True), ("1", True)])
def test_under_ci_reads_the_ci_variable(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                        expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert under_ci() is expected
