"""``pip install .`` gives a ``roomchaos`` that runs for real from the user's own folder.

The checkout is copied to a temporary folder, built into a wheel with this environment's
setuptools (no build isolation, so no network), and installed with ``pip install --no-deps``
into a fresh ``python -m venv`` outside the checkout. There ``lockwatch`` imports with
no dependency at all (a user's service needs nothing else); with this environment's packages
made visible to the fresh one for the dependencies, ``roomchaos --help`` runs, and so do real
runs (naive FAIL, fixed PASS) and a matrix from a folder of the user's own, with Toxiproxy
from the checkout's ``.tools/bin`` on PATH: every file they write is under that folder's
``results/``; the venv's site-packages and the checkout are left as they were.

``make install`` puts the checkout's harness into ``.venv`` (editable), so ``.venv/bin/roomchaos``
and ``.venv/bin/python -m harness`` work from any folder.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.bench.short_scenario import short_slow_member
from harness.target import PROJECT_ROOT
from tests.missing_setup import skip_missing_setup

# serial: it checks that a run writes nothing into the checkout, which other tests may do.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

_NOT_SOURCE = shutil.ignore_patterns(".venv", ".tools", ".git", "results", "__pycache__",
                                     ".*_cache", ".hypothesis", "build", "*.egg-info", "tests",
                                     "docs")


def run(*argv: str | Path, cwd: Path, code: int = 0, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([str(part) for part in argv], cwd=cwd, capture_output=True,
                               text=True, timeout=240, env=env)
    assert completed.returncode == code, completed.stdout + completed.stderr
    return completed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("build")
    source = work / "roomchaos"
    shutil.copytree(PROJECT_ROOT, source, ignore=_NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--disable-pip-version-check", "--wheel-dir", work / "dist", source, cwd=work)
    [built] = (work / "dist").glob("roomchaos-*.whl")
    return built


def test_the_wheel_holds_the_harness_lockwatch_and_the_locustfile(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("harness/__main__.py", "lockwatch/aio.py", "harness/rig/launched.py",
                 "locustfile.py", "targets/roomserver/__main__.py",
                 "harness/webui/templates/roomchaos/chaos.html", "harness/install-toxiproxy.sh"):
        assert name in names, name
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "roomchaos = harness.__main__:main" in text


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel (and nothing else) installed."""
    env = tmp_path_factory.mktemp("installed") / "env"
    run(sys.executable, "-m", "venv", env, cwd=env.parent)
    run(env / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
        "--disable-pip-version-check", wheel, cwd=env.parent)
    return env


def borrow_dependencies(env: Path) -> None:
    """Make this environment's packages (the run's dependencies) visible to ``env``."""
    python = env / "bin" / "python"
    [purelib] = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=env).stdout.split()
    (Path(purelib) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")


def test_installed_roomchaos_and_lockwatch_run_from_a_fresh_venv(
    installed: Path, tmp_path: Path
) -> None:
    env = installed
    python = env / "bin" / "python"
    # lockwatch needs nothing but the standard library: this venv has no other package.
    imported = run(python, "-c", "import lockwatch as lw; print(lw.__file__); "
                   "lock = lw.aio.Lock('users-lock'); print(type(lock).__name__)", cwd=tmp_path)
    where, kind = imported.stdout.split()
    assert Path(where).is_relative_to(env) and kind == "Lock", imported.stdout
    # The console script needs the run's dependencies: borrow this environment's.
    borrow_dependencies(env)
    helped = run(env / "bin" / "roomchaos", "--help", cwd=tmp_path)
    assert helped.stdout.startswith("usage: roomchaos"), helped.stdout
    run_help = run(env / "bin" / "roomchaos", "run", "--help", cwd=tmp_path).stdout
    assert "--target-cmd" in run_help
    found = run(python, "-c", "from harness.rig.locust_process import LOCUSTFILE; "
                "print(LOCUSTFILE.is_file(), LOCUSTFILE)", cwd=tmp_path).stdout.split()
    assert found[0] == "True" and Path(found[1]).is_relative_to(env), found


SCENARIO_TARGET = '''
lock_wait_threshold = "100ms"
lock_suspend_threshold = "2ms"
'''
SCENARIO_THRESHOLDS = '''
min_samples = 10
checks = ["join[fast].p99 < 250ms", "lock_reports == 0", "errors.ratio < 0.05"]
abort_on_fail = ["lock_reports == 0"]
'''


def files_under(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (compiled bytecode and the top folders ``skip`` aside)
    with its size and mtime."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
            and path.relative_to(folder).parts[0] not in skip}


def test_installed_roomchaos_runs_and_writes_only_into_the_users_results(
    installed: Path, tmp_path: Path
) -> None:
    """Issue 19: an installed harness wrote samples.jsonl into site-packages, so nothing
    reached the verdict. Real runs and a matrix from the user's own folder must judge, and
    write nothing outside that folder's results/."""
    borrow_dependencies(installed)
    user = tmp_path / "mine"
    user.mkdir()
    (user / "mine.toml").write_text(short_slow_member(
        "mine", target=SCENARIO_TARGET, thresholds=SCENARIO_THRESHOLDS, members=6,
        warmup="2s", fault="5s", cooldown="1s"))
    environment = {**os.environ,
                   "PATH": f"{PROJECT_ROOT / '.tools' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("PYTHONPATH", None)
    # The checkout's own tools and caches are the test run's, not the installed harness's.
    checkout = (".venv", ".tools", ".git", ".pytest_cache", ".hypothesis", ".mypy_cache",
                ".ruff_cache")
    installed_before = files_under(installed)
    checkout_before = files_under(PROJECT_ROOT, checkout)
    roomchaos = installed / "bin" / "roomchaos"

    naive = run(roomchaos, "run", "mine.toml", "--mode", "naive", "--quiet", cwd=user, code=1,
                env=environment)
    assert naive.stdout.splitlines()[-2].startswith("FAIL: "), naive.stdout
    fixed = run(roomchaos, "run", "mine.toml", "--mode", "fixed", "--quiet", cwd=user,
                env=environment)
    assert "PASS" in fixed.stdout, fixed.stdout
    matrix = run(roomchaos, "matrix", "mine.toml", "--expect", "naive=FAIL", "--quiet",
                 cwd=user, env=environment)
    assert "matrix mine: every expectation holds" in matrix.stdout, matrix.stdout

    results = user / "results"
    verdicts = sorted(json.loads(path.read_text())["verdict"]["status"]
                      for path in results.glob("**/result.json"))
    assert verdicts == ["FAIL", "FAIL", "PASS"], verdicts
    for samples in results.glob("**/samples.jsonl"):
        assert samples.stat().st_size > 0, samples
    written = {path for path in files_under(user) if not path.startswith("results/")}
    assert written == {"mine.toml"}, written
    assert files_under(installed) == installed_before, "the run wrote into the venv"
    changed = {path for path, stat in files_under(PROJECT_ROOT, checkout).items()
               if checkout_before.get(path) != stat}
    assert not changed, f"the run wrote into the checkout: {sorted(changed)[:5]}"


def test_make_install_puts_the_harness_into_the_venv_for_any_folder(tmp_path: Path) -> None:
    """After ``make install``, the checkout's .venv runs the harness from any folder."""
    venv = PROJECT_ROOT / ".venv" / "bin"
    if not (venv / "python").exists():
        skip_missing_setup("no .venv: run make install")
    module = run(venv / "python", "-m", "harness", "--help", cwd=tmp_path)
    assert module.stdout.startswith("usage: python -m harness"), module.stdout
    script = run(venv / "roomchaos", "--help", cwd=tmp_path)
    assert script.stdout.startswith("usage: roomchaos"), script.stdout
    where = run(venv / "python", "-c", "import harness; print(harness.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(PROJECT_ROOT), where.stdout
