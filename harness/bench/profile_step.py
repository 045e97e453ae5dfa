"""Where the time goes in one chat-rate scale step: py-spy on the generator and the server.

``python -m harness.bench.profile_step --members 1000`` runs one step of the chat-rate
workload (:func:`harness.bench.scale.measure_step`; the fast members direct, as in ``scale``'s
goal row, or through the clean proxy with ``--proxy``), and once its window begins, records the
Locust process and the reference server with ``py-spy record --native --format raw`` (folded
stacks; native, so that a wait in ``epoll_wait`` counts as idle)
for the window's length; ``--delivery write`` runs the server as the ``peer`` bench does
(its members then send no acks). ``--town-hall`` runs the town hall (``fixed``) instead and records
its fault. It prints the step's CPU split (cores per role) and, for each
profiled process, the share of samples by where the time went: the leaf frame's file,
grouped (:func:`area_of`). py-spy is not a dependency of the harness: ``pip install
py-spy`` into the venv first. Not part of ``make bench`` (docs/benchmarks.md, "Where the
time goes", has its figures).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from harness.bench import townhall
from harness.bench.cpu_split import GENERATOR, SERVER, role_of
from harness.bench.scale import CHAT_RATE, CHAT_RATE_PROXY, MIN_JOINS, measure_step
from harness.scenario import load_scenario
from harness.target import PROJECT_ROOT

__all__ = ["area_of", "folded_shares", "main"]

#: (substring of a frame's file, area); the first that matches a sample's frames decides.
AREAS = (
    ("harness/loadgen/history", "harness: operation history"),
    ("harness/loadgen/samples", "harness: sample recorder"),
    ("harness/loadgen/histograms", "harness: histograms"),
    ("harness/loadgen/inflight", "harness: in-flight shipping"),
    ("harness/loadgen/order", "harness: delivery order"),
    ("harness/loadgen/lag", "harness: lag probe"),
    ("harness/loadgen/collector", "harness: shipping lines"),
    ("harness/protocols", "protocol frames (json)"),
    ("locust/stats", "locust: statistics"),
    ("locust/event", "locust: events"),
    ("websocket/", "websocket-client"),
    ("json/", "json"),
    # The hub's own frame innermost: libev's loop, its callbacks and the greenlet switches.
    ("Hub.run (gevent/hub.py", "gevent: the hub (event loop, switches)"),
    ("gevent/", "gevent: sockets, sleeps, waits"),
    ("lockwatch/", "lockwatch"),
    ("websockets/", "websockets (server)"),
    ("asyncio/", "asyncio"),
    ("targets/", "server: room logic"),
    ("harness/loadgen/receiver", "member: the receiver (receiver.py)"),
    ("harness/loadgen/frames", "member: frame reader (frames.py)"),
    ("harness/loadgen/user", "member (user.py)"),
)


def area_of(stack: str) -> str:
    """The area of one folded stack (frames separated by ``;``, innermost last): a harness
    recorder anywhere in it (its json and Locust calls are its cost), else the first of
    :data:`AREAS` found, innermost frame first."""
    frames = stack.split(";")
    for frame in frames:
        for needle, area in AREAS:
            if area.startswith("harness:") and needle in frame:
                return area
    for frame in reversed(frames):
        for needle, area in AREAS:
            if needle in frame:
                return area
    return "other"


def folded_shares(path: Path) -> dict[str, float]:
    """Share of samples per area in a py-spy ``--format raw`` file (``stack count`` lines)."""
    counts: Counter[str] = Counter()
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                counts[area_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {area: round(count / total, 3) for area, count in counts.most_common()}


def _record(pyspy: str, pid: int, seconds: float, out: Path,
            rate: int = 50) -> subprocess.Popen[bytes]:
    # --native, not --nonblocking: without the native stack py-spy cannot tell gevent's hub
    # waiting in epoll_wait from the hub at work, and counted the waits as the hub's CPU (43%
    # of a chat-rate generator's samples; with --native its own frames are about 3%).
    return subprocess.Popen(
        [pyspy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
         "--native", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.profile_step",
                                      description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--proxy", action="store_true",
                        help="the fast members through Toxiproxy's clean proxy, not direct")
    parser.add_argument("--delivery", choices=("ack", "write"), default="ack",
                        help="the server's delivery (write: as the peer bench runs it, and the "
                             "members send no acks)")
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples a second")
    parser.add_argument("--town-hall", action="store_true",
                        help="profile the town hall's fault (fixed mode) instead")
    parser.add_argument("--output", type=Path,
                        default=PROJECT_ROOT / "results" / "profile-step")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        parser.error("py-spy not found: pip install py-spy into this venv")
    args.output.mkdir(parents=True, exist_ok=True)
    workload = CHAT_RATE_PROXY if args.proxy else CHAT_RATE
    warmup = workload.spawn_s + workload.period_s + 3
    seconds = workload.window_s - 2
    outcome: dict[str, Any] = {}
    scenario = load_scenario(townhall.SCENARIO_PATH)
    if args.town_hall:
        warmup, seconds = scenario.timing.warmup_s + 3, scenario.timing.fault_s - 4

    recorders: list[tuple[str, Path, subprocess.Popen[bytes]]] = []

    def attach() -> None:
        """Once the measured part begins, record the generator and the server."""
        time.sleep(warmup)
        for child in psutil.Process().children(recursive=True):
            try:
                role = role_of(child.cmdline())
            except psutil.Error:
                continue
            if role in (GENERATOR, SERVER):
                label = "town-hall" if args.town_hall else str(args.members)
                out = args.output / f"{role}-{label}.folded"
                recorders.append((role, out, _record(pyspy, child.pid, seconds, out, args.rate)))

    # The run stays in the main thread (it installs signal handlers); py-spy starts aside.
    thread = threading.Thread(target=attach, daemon=True)
    thread.start()
    if args.town_hall:
        outcome.update(townhall.measure(scenario, "fixed", args.output))
    else:
        outcome.update(measure_step(workload, args.members, workload.window_s, args.output,
                                    MIN_JOINS, delivery=args.delivery))
    thread.join(timeout=5)
    for _, _, recorder in recorders:
        recorder.wait(timeout=30)
    print({key: outcome.get(key) for key in ("members", "mode", "verdict", "join_p99_ms", "held",
                                            "cpu_cores", "waited_for_core", "others_cores",
                                            "deliveries_per_s", "generator_cores_per_1000")})
    for role, out, _ in recorders:
        print(role, folded_shares(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
