"""The harness's own recording in a Locust process: CPU per chat-rate member-second.

``python -m harness.bench.recording_cost --members 600 2000`` drives, in this one process and
with no socket, what a local runner's recording does for members at chat rate (rooms of 10, a
broadcast every 5 s, each owed to and received by the 9 others): the operation history
(owed, received), the delivery order, a ``deliver`` sample through the sample and histogram
recorders, and their shipments on their own cadence, written to files as in a run. It prints
the process CPU time per member-second, the best of ``--repeat`` measurements: a figure that
holds on a busy machine, and the part of the generator's CPU that is the harness's (its
sockets, frames and Locust's own statistics are not in it). Not part of ``make bench``
(docs/benchmarks.md, "Where the time goes", has its figures).
"""

from __future__ import annotations

# Locust's members run monkey-patched; so does this, before anything imports ssl.
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

from harness.loadgen.histograms import HistogramRecorder  # noqa: E402
from harness.loadgen.history import OperationHistory  # noqa: E402
from harness.loadgen.order_tracker import DeliveryOrder, OrderRecorder  # noqa: E402
from harness.loadgen.samples import SampleRecorder  # noqa: E402
from harness.protocols import Delivered  # noqa: E402
from harness.runfolder import RunFolder  # noqa: E402

__all__ = ["main", "measure"]

ROOM_SIZE = 10
#: A broadcast every 5 s: the chance that a member broadcasts in one half-second tick.
BROADCAST_CHANCE = 0.1


class _Runner:
    """A local runner's messaging: ``send_message`` calls the handler in this process."""

    worker_index = 0

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def register_message(self, message_type: str, handler: Any) -> None:
        self.handlers[message_type] = handler

    def send_message(self, message_type: str, data: Any) -> None:
        self.handlers[message_type](SimpleNamespace(data=data))


class _Environment:
    def __init__(self) -> None:
        self.runner = _Runner()
        self.events = None


def measure(members: int, seconds: int, folder: Path) -> float:
    """CPU microseconds per member-second of ``seconds`` simulated seconds; the files, named
    as in a run folder, in ``folder``."""
    environment = _Environment()
    files = RunFolder(folder)
    samples = SampleRecorder(environment, str(files.samples))
    histograms = HistogramRecorder(environment, str(files.histograms))
    order = OrderRecorder(environment, str(files.order))
    for recorder in (samples, histograms):
        recorder._collect_on(environment.runner)
    environment.runner.register_message(order.message_type, order._write_batch)
    order._file = files.order.open("a")
    history = OperationHistory()
    names = [f"fast-{index}" for index in range(members)]
    receivers = [DeliveryOrder() for _ in names]
    for index, (name, receiver) in enumerate(zip(names, receivers, strict=True)):
        order.track(receiver, "fast")
        history.entered(name, "fast", f"room-{index // ROOM_SIZE}")
    contexts = [{"member": name} for name in names]
    counters = [0] * members
    chance = random.Random(22)
    started = time.process_time()
    for _ in range(seconds):
        for _ in range(2):  # half-second ticks: samples and order ship twice a second
            for sender in range(members):
                if chance.random() >= BROADCAST_CHANCE:
                    continue
                counters[sender] += 1
                room = sender // ROOM_SIZE
                message_id = f"{names[sender]}-{counters[sender]}@1"
                history.broadcast(names[sender], f"room-{room}", message_id)
                for other in range(room * ROOM_SIZE, min(members, (room + 1) * ROOM_SIZE)):
                    if other == sender:
                        continue
                    receivers[other].observe(
                        Delivered(f"room-{room}", names[sender], message_id, None, None))
                    history.received(names[other], message_id)
                    latency_ms = chance.lognormvariate(1.5, 0.8)
                    samples._on_request("fast", "deliver", latency_ms, None, contexts[other])
                    histograms._on_request("fast", "deliver", latency_ms, None, contexts[other])
            samples.ship()
            order.flush()
        histograms.ship()
    cpu_s = time.process_time() - started
    samples.close()
    order.close()
    return cpu_s / seconds / members * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.recording_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[600, 2000])
    parser.add_argument("--seconds", type=int, default=20, help="simulated seconds")
    parser.add_argument("--repeat", type=int, default=3, help="measurements; the best counts")
    parser.add_argument("--output", type=Path, help="where the files go (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recording-cost-") as scratch:
        base = args.output or Path(scratch)  # files under a temp dir go with it
        for members in args.members:
            figures = []
            for attempt in range(args.repeat):
                folder = base / f"{members}-{attempt}"
                folder.mkdir(parents=True, exist_ok=True)
                figures.append(measure(members, args.seconds, folder))
            print(f"{members} members: {min(figures):.1f} µs CPU per member-second "
                  f"(best of {args.repeat}: {', '.join(f'{f:.1f}' for f in figures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
