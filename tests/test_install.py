"""``pip install .`` gives the ``roomchaos`` console script, and lockwatch for users' services.

The checkout is copied to a temporary folder, built into a wheel with this environment's
setuptools (no build isolation, so no network), and installed with ``pip install --no-deps``
into a fresh ``python -m venv``. There ``harness.lockwatch`` imports with no dependency at all
(a user's service needs nothing else); with this environment's packages made visible to the
fresh one for the dependencies, ``roomchaos --help`` runs.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.target import PROJECT_ROOT

pytestmark = pytest.mark.integration

_NOT_SOURCE = shutil.ignore_patterns(".venv", ".tools", ".git", "results", "__pycache__",
                                     ".*_cache", ".hypothesis", "build", "*.egg-info", "tests",
                                     "docs")


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([str(part) for part in argv], cwd=cwd, capture_output=True,
                               text=True, timeout=240)
    assert completed.returncode == 0, completed.stdout + completed.stderr
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
    for name in ("harness/__main__.py", "harness/lockwatch/aio.py", "harness/launched.py",
                 "locustfile.py", "targets/roomserver/__main__.py",
                 "harness/webui/templates/roomchaos/chaos.html", "harness/install-toxiproxy.sh"):
        assert name in names, name
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "roomchaos = harness.__main__:main" in text


def test_installed_roomchaos_and_lockwatch_run_from_a_fresh_venv(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "env"
    run(sys.executable, "-m", "venv", env, cwd=tmp_path)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
        "--disable-pip-version-check", wheel, cwd=tmp_path)
    # lockwatch needs nothing but the standard library: this venv has no other package.
    imported = run(python, "-c", "import harness.lockwatch as lw; print(lw.__file__); "
                   "lock = lw.aio.Lock('users-lock'); print(type(lock).__name__)", cwd=tmp_path)
    where, kind = imported.stdout.split()
    assert Path(where).is_relative_to(env) and kind == "Lock", imported.stdout
    # The console script needs the run's dependencies: borrow this environment's.
    [purelib] = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=tmp_path).stdout.split()
    (Path(purelib) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    helped = run(env / "bin" / "roomchaos", "--help", cwd=tmp_path)
    assert helped.stdout.startswith("usage: roomchaos"), helped.stdout
    run_help = run(env / "bin" / "roomchaos", "run", "--help", cwd=tmp_path).stdout
    assert "--target-cmd" in run_help
    found = run(python, "-c", "from harness.locust_process import LOCUSTFILE; "
                "print(LOCUSTFILE.is_file(), LOCUSTFILE)", cwd=tmp_path).stdout.split()
    assert found[0] == "True" and Path(found[1]).is_relative_to(env), found
