"""Every measured operation, as JSON lines the harness reads.

Each Locust process batches its samples and sends them with
``runner.send_message("room_samples", batch)``. On a master, workers' batches
arrive through Locust's custom messages; on a local runner, ``send_message``
calls the handler directly, so one code path serves both. Only the master (or
the local runner) writes the file.
"""

from __future__ import annotations

import time
from typing import Any

from harness.loadgen.collector import json_line, register_collector
from harness.loadgen.recorder import RequestRecorder

__all__ = ["SampleRecorder", "SAMPLE_KINDS", "sample_lines"]

#: Request types that are member samples (lock reports use "LOCK").
SAMPLE_KINDS = ("fast", "slow")
MESSAGE_TYPE = "room_samples"


class SampleRecorder(RequestRecorder):
    """Collect samples from ``events.request`` and ship them to the writer."""

    interval = 0.5  # Samples go to the writer twice a second.

    def __init__(self, environment: Any, path: str) -> None:
        super().__init__(environment)
        self.path = path
        self._batch: list[dict[str, Any]] = []
        self._file: Any = None

    def _collect_on(self, runner: Any) -> None:
        if self.path:
            self._file = register_collector(runner, MESSAGE_TYPE, self._write_batch, self.path)

    def _on_request(self, request_type: str, name: str, response_time: float,
                    exception: BaseException | None = None, context: Any = None,
                    **_: Any) -> None:
        if request_type not in SAMPLE_KINDS or not self._recording:
            return
        if not isinstance(context, dict):
            context = {}
        sample = {
            "time": time.time(),
            "op": name,
            "member_kind": request_type,
            "latency_ms": round(float(response_time), 3),
            "ok": exception is None,
            "error": None if exception is None else str(exception)[:200],
            "member": context.get("member"),
            "corrected_ms": context.get("corrected_ms"),
            # Assigned by the master after init, so read it per sample.
            "worker": getattr(self.environment.runner, "worker_index", 0),
        }
        if context.get("unfinished"):
            # Still in flight when the run ended: latency_ms is its age (harness.loadgen.history).
            sample["unfinished"] = True
        self._batch.append(sample)

    def ship(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        runner = self.environment.runner
        if runner is not None:
            runner.send_message(MESSAGE_TYPE, batch)

    def _write_batch(self, msg: Any, **_: Any) -> None:
        if self._file is None:
            return
        self._file.write(sample_lines(msg.data))

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None


#: The keys of a sample, in order, as :meth:`SampleRecorder._on_request` writes them.
_KEYS = ("time", "op", "member_kind", "latency_ms", "ok", "error", "member", "corrected_ms",
         "worker")
#: Strings seen, and whether JSON writes them as they are (printable ASCII, no quote or
#: backslash); bounded, since member names and op names are few.
_PLAIN: dict[str, bool] = {}
_PLAIN_LIMIT = 100_000


def _plain(text: object) -> bool:
    known = _PLAIN.get(text) if type(text) is str else False
    if known is None:
        assert isinstance(text, str)
        known = text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
        if len(_PLAIN) < _PLAIN_LIMIT:
            _PLAIN[text] = known
    return bool(known)


def _finite(value: object) -> bool:
    return type(value) is float and value - value == 0.0  # not NaN, not infinite


def sample_lines(samples: list[Any]) -> str:
    """``samples`` as JSON lines, exactly as :func:`~harness.loadgen.collector.json_lines`
    writes them. The usual sample (no error, plain names, finite numbers) is formatted
    directly: the JSON encoder took about 5 µs a line, a sixth of what recording one delivery
    costs a member, and every delivery is a line."""
    lines = []
    for sample in samples:
        if (type(sample) is dict and tuple(sample) == _KEYS and sample["error"] is None
                and _finite(sample["time"]) and _finite(sample["latency_ms"])
                and type(sample["ok"]) is bool and type(sample["worker"]) is int
                and (sample["corrected_ms"] is None or _finite(sample["corrected_ms"]))
                and _plain(sample["op"]) and _plain(sample["member_kind"])
                and (sample["member"] is None or _plain(sample["member"]))):
            member = "null" if sample["member"] is None else '"' + sample["member"] + '"'
            corrected = sample["corrected_ms"]
            lines.append(
                f'{{"time": {sample["time"]!r}, "op": "{sample["op"]}", '
                f'"member_kind": "{sample["member_kind"]}", '
                f'"latency_ms": {sample["latency_ms"]!r}, '
                f'"ok": {"true" if sample["ok"] else "false"}, "error": null, '
                f'"member": {member}, '
                f'"corrected_ms": {"null" if corrected is None else repr(corrected)}, '
                f'"worker": {sample["worker"]}}}\n')
        else:
            lines.append(json_line(sample))
    return "".join(lines)
