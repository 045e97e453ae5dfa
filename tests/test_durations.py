"""Tests for harness.durations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("500us", 0.0005),
        ("0", 0.0),
        ("3", 3.0),
        (" 10 ms ", 0.01),
        (".5s", 0.5),
        ("1e3ms", 1.0),
        (4, 4.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration_accepts_documented_forms(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "ms", "fast", "10 sec", "1h", "-1s", "1.2.3s", "1s 2ms", -1, math.inf, True]
)
def test_parse_duration_rejects_other_forms_naming_the_accepted_ones(text: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(text)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "invalid duration" in message
    assert "ms" in message and "bare number of seconds" in message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0005, "500us"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (12, "12s"),
        (60, "1m"),
        (120, "2m"),
        (90, "90s"),
        (0.1 + 0.2, "300ms"),
    ],
)
def test_format_duration_picks_a_readable_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_rejects_negative_and_infinite() -> None:
    for seconds in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            format_duration(seconds)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_format_then_parse_round_trips_to_three_decimals_of_the_unit(seconds: float) -> None:
    parsed = parse_duration(format_duration(seconds))
    # Three decimals of the chosen unit: relative error is at most 0.0005 / 1 = 5e-4.
    assert parsed == pytest.approx(seconds, rel=5e-4, abs=1e-9)
