"""Four hosts as network namespaces, and one harness run across them (issue 22 part 5).

``unshare -rn python -m tests.netlab SPEC_JSON`` (a user namespace and a network namespace of
its own, no privileges) runs in that outer namespace, the "switch": a bridge ``br0`` joins
four hosts, each a network namespace of its own (``unshare -n``, held open by an anchor
process), each joined to the bridge by a veth pair, with an address from 198.18.0.0/15 (the
benchmarking range, RFC 2544) that exists inside these namespaces only:

- ``target`` 198.18.0.1: the reference server (write delivery) and its Toxiproxy;
- ``master`` 198.18.0.2: ``python -m harness run`` with ``--expect-workers 2``: Locust master,
  lock-report polling, member-fault commands, thresholds and the verdict;
- ``worker-0`` 198.18.0.3 and ``worker-1`` 198.18.0.4: ``locust --worker``, which run every
  member (the master runs none).

Each host caps its TCP buffers at 64 KiB (:func:`harness.rig.netns.set_socket_buffers`), so a
stalled member backs the server up after kilobytes, as a scenario's ``[network]
socket_buffer`` does on one host. SPEC_JSON is ``{"mode", "scenario", "results", "out"}``;
the summary goes to ``out/lab.json``: the harness's exit code, every process started (pids)
and the network namespaces (inodes), so the test can check nothing is left once this process
(and with it the switch) is gone. Every process is bounded in time and stopped in the end;
SIGTERM stops the lab the same way, and should the lab be killed, its children get a signal
from the kernel (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from harness.target import PROJECT_ROOT
from harness.toxiproxy.server import find_toxiproxy_server

HOSTS = {"target": "198.18.0.1", "master": "198.18.0.2", "worker-0": "198.18.0.3",
         "worker-1": "198.18.0.4"}
SWITCH_ADDRESS = "198.18.0.254"  # the bridge's own, so this process can poll the hosts
PREFIX = 24
SERVER_PORT, TOXIPROXY_PORT, MASTER_PORT = 9000, 8474, 5557
SOCKET_BUFFER = 65536
#: The harness's run, start-up and teardown included, ends well within this.
RUN_TIMEOUT_S = 240.0
#: The anchors outlive any run, and die with the switch at the latest.
ANCHOR_LIFETIME_S = 600
#: The line the harness prints while its master waits for workers on other machines.
MASTER_PORT_LINE = re.compile(r"--worker --master-host HOST --master-port (\d+)")
#: The reference server's flags, as stalled-member.toml's [target] sets them for the bundled one.
SERVER_FLAGS = ["--delivery", "write", "--send-timeout", "10", "--lock-wait-threshold", "0.1",
                "--lock-hold-threshold", "0.25", "--lock-suspend-threshold", "0.002"]


class Stopped(Exception):
    """SIGTERM (or SIGINT) arrived: stop everything, then exit."""


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(f"stopped by signal {signum}")


def die_with_lab(signame: str) -> list[str]:
    """The prefix that makes a child get ``signame`` when this process dies, even by SIGKILL
    (``PR_SET_PDEATHSIG`` survives exec), so nothing outlives the lab."""
    return ["setpriv", "--pdeathsig", signame]


def must_run(argv: list[str], timeout: float = 30) -> None:
    """Run ``argv`` to its end; raises RuntimeError with its last line of stderr on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"{' '.join(argv[:6])}: {lines[-1] if lines else done.returncode}")


def ip(*args: str, anchor: int | None = None) -> None:
    """``ip ARGS`` here, or inside the namespace of ``anchor``; raises on failure."""
    prefix = ["nsenter", "-t", str(anchor), "-n"] if anchor is not None else []
    must_run([*prefix, "ip", *args], timeout=10)


class Lab:
    """The switch, the four hosts, and every process started in them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.anchors: dict[str, subprocess.Popen[bytes]] = {}
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[IO[bytes]] = []

    def build(self) -> None:
        ip("link", "set", "lo", "up")
        ip("link", "add", "br0", "type", "bridge")
        ip("addr", "add", f"{SWITCH_ADDRESS}/{PREFIX}", "dev", "br0")
        ip("link", "set", "br0", "up")
        for index, (host, address) in enumerate(HOSTS.items()):
            anchor = subprocess.Popen(
                [*die_with_lab("KILL"), "unshare", "-n", "sleep", str(ANCHOR_LIFETIME_S)])
            self.anchors[host] = anchor
            self._wait_for_own_namespace(anchor.pid)
            veth = f"veth{index}"
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns",
               str(anchor.pid))
            ip("link", "set", veth, "master", "br0", "up")
            ip("addr", "add", f"{address}/{PREFIX}", "dev", "eth0", anchor=anchor.pid)
            ip("link", "set", "eth0", "up", anchor=anchor.pid)
            # lo up and TCP buffers capped, in that host's namespace.
            self.run_in(host, [sys.executable, "-c", "from harness.rig.netns import "
                               f"set_socket_buffers; set_socket_buffers({SOCKET_BUFFER})"])

    @staticmethod
    def _wait_for_own_namespace(pid: int) -> None:
        """``unshare -n`` has made its namespace (its ns/net differs from ours)."""
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{pid}/ns/net") != own:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"unshare -n (pid {pid}) made no namespace within 10 s")

    def namespaces(self) -> dict[str, str]:
        return {host: os.readlink(f"/proc/{anchor.pid}/ns/net")
                for host, anchor in self.anchors.items()}

    def run_in(self, host: str, argv: list[str]) -> None:
        """Run ``argv`` to its end in ``host``; raises on failure."""
        must_run(["nsenter", "-t", str(self.anchors[host].pid), "-n", *argv])

    def start(self, host: str, name: str, argv: list[str], stderr_pipe: bool = False,
              on_lab_death: str = "KILL") -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``host``, its output in ``out/NAME.log`` (stderr piped, if asked).

        Should this process die, the child gets ``on_lab_death`` (the harness gets TERM, so
        it stops its own children as on Ctrl-C)."""
        log = open(self.out / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        self.logs.append(log)
        process = subprocess.Popen(
            [*die_with_lab(on_lab_death), "nsenter", "-t", str(self.anchors[host].pid), "-n",
             *argv],
            cwd=PROJECT_ROOT, stdout=log,
            stderr=subprocess.PIPE if stderr_pipe else subprocess.STDOUT)
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 10 s), then the anchors."""
        everything = [*self.processes, *((f"anchor {h}", a) for h, a in self.anchors.items())]
        for _, process in everything:
            if process.poll() is None:
                process.terminate()
        for _, process in everything:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self.logs:
            log.close()


def wait_for_port(address: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {address}:{port} after {timeout:g} s"
                                   ) from None
            time.sleep(0.1)


def run(lab: Lab, spec: dict[str, Any]) -> dict[str, Any]:
    """Start the target's host, then the master, then the workers; wait for the verdict."""
    target = HOSTS["target"]
    lab.start("target", "toxiproxy", [str(find_toxiproxy_server(PROJECT_ROOT)), "-host", target,
                                      "-port", str(TOXIPROXY_PORT)])
    lab.start("target", "target", [sys.executable, "-m", "targets.roomserver", "--mode",
                                   spec["mode"], "--host", target, "--port", str(SERVER_PORT),
                                   *SERVER_FLAGS])
    wait_for_port(target, TOXIPROXY_PORT)
    wait_for_port(target, SERVER_PORT)
    master = HOSTS["master"]
    harness = lab.start("master", "harness", [
        sys.executable, "-m", "harness", "run", spec["scenario"],
        "--target-url", f"ws://{target}:{SERVER_PORT}/ws",
        "--lock-reports", f"http://{target}:{SERVER_PORT}/debug/locks",
        "--toxiproxy-url", f"http://{target}:{TOXIPROXY_PORT}",
        "--proxy-host", target, "--master-bind-host", master,
        "--master-port", str(MASTER_PORT),
        "--allow-host", target, "--allow-host", master,
        "--expect-workers", "2", "--label", spec["mode"],
        "--results-dir", spec["results"], "--quiet"], stderr_pipe=True, on_lab_death="TERM")
    assert harness.stderr is not None
    found: list[int] = []
    stderr_lines: list[str] = []

    def read_stderr() -> None:
        assert harness.stderr is not None
        for raw in harness.stderr:
            line = raw.decode(errors="replace")
            stderr_lines.append(line)
            match = MASTER_PORT_LINE.search(line)
            if match and not found:
                found.append(int(match[1]))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not found and harness.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if found:  # the port the harness printed (the one --master-port asked for)
        for index in range(2):
            lab.start(f"worker-{index}", f"locust-worker-{index}", [
                sys.executable, "-m", "locust", "-f", "locustfile.py", "--worker",
                "--master-host", master, "--master-port", str(found[0]),
                "--loglevel", "WARNING"])
    try:
        code = harness.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    reader.join(timeout=5)
    return {"exit_code": code, "master_port": found[0] if found else None,
            "harness_stderr": "".join(stderr_lines)[-4000:]}


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    spec = json.loads(argv[0])
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab(out)
    summary: dict[str, Any] = {}
    try:
        lab.build()
        summary["namespaces"] = lab.namespaces()
        summary["switch_namespace"] = os.readlink("/proc/self/ns/net")
        summary.update(run(lab, spec))
    except (OSError, RuntimeError, subprocess.SubprocessError, Stopped) as exc:
        summary["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        lab.stop()
        summary["pids"] = {name: process.pid for name, process in lab.processes}
        summary["pids"].update({f"anchor {host}": anchor.pid
                                for host, anchor in lab.anchors.items()})
        (out / "lab.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if "error" not in summary else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
