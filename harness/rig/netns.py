"""Small socket buffers: run a whole rig inside a network namespace of its own.

Linux's default TCP buffers are large (``tcp_wmem`` up to 4 MiB, ``tcp_rmem`` up to 6 to 32 MiB),
so a member that stops reading is backed up only after megabytes: minutes at chat rates. The
sysctls ``net.ipv4.tcp_wmem`` and ``net.ipv4.tcp_rmem`` are per network namespace, and
``unshare -rn`` (a user namespace plus a network namespace, no privileges needed where the
kernel allows unprivileged user namespaces) gives one whose only interface is loopback. A
scenario's ``[network] socket_buffer = "64KiB"`` makes each of its runs happen in such a
namespace, with both sysctls' maximum (and default) set to that size, so backpressure comes
after kilobytes.

:func:`harness.headless.one_run.run_in_namespace` starts ``unshare -rn python -m
harness.headless.namespace_child SIZE OPTIONS`` and waits; that child
(:mod:`harness.headless.namespace_child`) brings ``lo`` up, sets the sysctls with
:func:`set_socket_buffers` and runs the run in-process
(:func:`harness.headless.one_run.run_scenario`): Toxiproxy, the target and Locust are its children,
so they are in the namespace too. The outcome is read back from the run's ``result.json``.

Where namespaces are not permitted, :func:`namespace_problem` says why in one line and the run
happens on the machine's own network, with its buffers (``[load] body_size`` then fills them).
A server the run starts (bundled, or the user's ``--target-cmd``) starts inside. Runs that use
a component that runs already on this machine's network (``--target-url``, ``--toxiproxy-url``,
remote workers) or hosts other than loopback cannot move into one and run outside; the one
line names that component (:func:`harness.headless.one_run.namespace_obstacle`).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.target import PROJECT_ROOT

__all__ = ["INSIDE_ENV", "namespace_problem", "no_namespace_notice", "set_socket_buffers"]

#: Set in the environment of a run inside its namespace (it must not try to enter another).
INSIDE_ENV = "ROOMCHAOS_NETNS"
#: Smallest buffer the kernel keeps anyway (its minimum is one page).
MIN_BUFFER = 4096


#: The probe: what :mod:`harness.headless.namespace_child` does first, inside a namespace of its
#: own.
PROBE = "from harness.rig.netns import set_socket_buffers; set_socket_buffers(65536)"


@functools.cache
def namespace_problem() -> str | None:
    """None when a run can set up its namespace here; else one line saying why not.

    Probes the whole set-up, not only ``unshare -rn``: inside a fresh namespace it brings
    ``lo`` up and caps the TCP buffers with :func:`set_socket_buffers`, as the run will.
    """
    try:
        probe = subprocess.run(["unshare", "-rn", sys.executable, "-c", PROBE],
                               capture_output=True, text=True, timeout=20, check=False,
                               cwd=PROJECT_ROOT)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare -rn cannot run: {exc}"
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return f"the namespace cannot be set up: {lines[-1] if lines else probe.returncode}"
    return None


def no_namespace_notice(why: str) -> str:
    """The one line that says a scenario's ``[network] socket_buffer`` is not applied, and why."""
    return (f"harness: no network namespace ({why}); socket buffers stay the machine's, "
            "[load] body_size fills them")


def set_socket_buffers(size: int) -> None:
    """Inside the namespace: bring ``lo`` up, cap ``tcp_wmem`` and ``tcp_rmem`` at ``size``.

    Raises:
        OSError: ``lo`` or a sysctl could not be set (one line saying which).
    """
    try:
        link = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OSError(f"ip link set lo up: {exc}") from None
    if link.returncode != 0:
        raise OSError(f"ip link set lo up: {' '.join(link.stderr.split())}")
    size = max(size, MIN_BUFFER)
    for name in ("tcp_wmem", "tcp_rmem"):
        path = Path(f"/proc/sys/net/ipv4/{name}")
        try:
            path.write_text(f"{MIN_BUFFER} {size} {size}\n")
        except OSError as exc:
            raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None


def namespace_argv(size: int, options: dict[str, Any]) -> list[str]:
    """The command that runs one run in a namespace of its own."""
    return ["unshare", "-rn", sys.executable, "-m", "harness.headless.namespace_child", str(size),
            json.dumps(options)]
