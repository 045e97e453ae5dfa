"""Skips for a set-up the project installs itself, which fail instead under CI.

A test that needs Toxiproxy, the network namespace, the .venv or another part of the project's
own set-up calls :func:`skip_missing_setup` when it is missing. On a developer's machine that is
a skip with the fix in its reason; under CI (env ``CI`` set, as GitHub Actions sets
``CI=true``) tests/conftest.py turns it into a failure, so a check cannot vanish silently where
it matters. Skips for what the machine merely lacks (no IPv6 loopback, an ``ss`` that cannot
read socket memory) stay plain ``pytest.skip``.
"""

from __future__ import annotations

import os
from typing import NoReturn

from _pytest.outcomes import Skipped  # pytest.skip.Exception, by a name a type checker sees

from harness.rig.netns import namespace_problem
from harness.target import PROJECT_ROOT
from harness.toxiproxy.server import ToxiproxyNotFound, find_toxiproxy_server

__all__ = ["MissingSetup", "require_namespace", "require_toxiproxy", "skip_missing_setup",
           "under_ci"]


class MissingSetup(Skipped):
    """A skip because part of the project's own set-up is missing (a failure under CI)."""


def under_ci() -> bool:
    """True when the env says this is CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_missing_setup(reason: str) -> NoReturn:
    """Skip the running test: ``reason`` names what is missing and how to install it."""
    raise MissingSetup(f"missing set-up: {reason}", allow_module_level=True)


def require_toxiproxy() -> None:
    """Skip (fail under CI) unless toxiproxy-server 2.12.0 is installed."""
    try:
        find_toxiproxy_server(PROJECT_ROOT)
    except ToxiproxyNotFound as exc:
        skip_missing_setup(str(exc))


def require_namespace(what: str = "a network namespace") -> None:
    """Skip (fail under CI) unless a run can set up its network namespace here."""
    problem = namespace_problem()
    if problem is not None:
        skip_missing_setup(f"needs {what}: {problem} (`unshare -rn` must work: util-linux, "
                           "iproute2 and unprivileged user namespaces)")
