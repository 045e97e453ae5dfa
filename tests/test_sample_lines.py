"""Sample lines (harness.loadgen.samples.sample_lines): the usual sample is formatted without
the JSON encoder, and every line is exactly what the encoder writes."""

from __future__ import annotations

import json
import math
import types
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.loadgen import samples as samples_module
from harness.loadgen.collector import json_lines
from harness.loadgen.samples import SampleRecorder, sample_lines

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                    st.none())
TEXTS = st.one_of(st.sampled_from(["deliver", "join", "fast", "fast-12", 'a"b', "a\\b",
                                   "é", "tab\there", ""]), st.text(max_size=8), st.none())


@st.composite
def samples(draw: st.DrawFn) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "time": draw(st.one_of(st.floats(min_value=0, max_value=2e9), NUMBERS)),
        "op": draw(TEXTS),
        "member_kind": draw(TEXTS),
        "latency_ms": draw(st.one_of(st.floats(min_value=0, max_value=1e7), NUMBERS)),
        "ok": draw(st.one_of(st.booleans(), st.none())),
        "error": draw(st.one_of(st.none(), TEXTS)),
        "member": draw(TEXTS),
        "corrected_ms": draw(st.one_of(st.none(), NUMBERS)),
        "worker": draw(st.one_of(st.integers(0, 9), st.booleans())),
    }
    if draw(st.booleans()):
        sample["unfinished"] = True
    return sample


@given(st.lists(samples(), max_size=6))
def test_sample_lines_are_the_json_encoders_lines(batch: list[dict[str, Any]]) -> None:
    assert sample_lines(batch) == json_lines(batch)


def test_a_recorded_delivery_reads_back_as_recorded() -> None:
    environment = types.SimpleNamespace(runner=types.SimpleNamespace(worker_index=2))
    recorder = SampleRecorder(environment, "")
    recorder._on_request("fast", "deliver", 12.3456789, None, {"member": "fast-7"})
    recorder._on_request("slow", "join", 1.5, RuntimeError('no "reply"'),
                         {"member": "slow-0", "corrected_ms": 2.25})
    assert sample_lines(recorder._batch) == json_lines(recorder._batch)
    lines = sample_lines(recorder._batch).splitlines()
    assert [json.loads(line) for line in lines] == recorder._batch
    assert json.loads(lines[0])["latency_ms"] == 12.346
    assert not math.isnan(json.loads(lines[0])["time"])


def test_the_usual_sample_does_not_go_through_the_encoder(monkeypatch: Any) -> None:
    """The point of sample_lines: if the keys drifted from what SampleRecorder writes, every
    line would quietly take the encoder's path and the test above would still pass."""
    environment = types.SimpleNamespace(runner=types.SimpleNamespace(worker_index=0))
    recorder = SampleRecorder(environment, "")
    recorder._on_request("fast", "deliver", 3.25, None, {"member": "fast-1"})
    expected = json_lines(recorder._batch)

    def no_encoder(sample: Any) -> str:
        raise AssertionError(f"the encoder was asked for {sample!r}")

    monkeypatch.setattr(samples_module, "json_line", no_encoder)
    assert sample_lines(recorder._batch) == expected
