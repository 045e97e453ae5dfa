"""Human-friendly durations: parse ``"250ms"`` / ``"1.5s"`` / ``"2m"`` and format seconds back.

Every duration inside the harness is a ``float`` number of seconds; this module is the only
place that knows about unit suffixes.
"""

from __future__ import annotations

import math
import re

SECONDS_PER_UNIT: dict[str, float] = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
}
"""Accepted unit suffixes and how many seconds one of each is."""

ACCEPTED_FORMS = (
    'a number with a unit us, ms, s or m (e.g. "500us", "250ms", "1.5s", "2m"), '
    "or a bare number of seconds"
)
"""Human description of what :func:`parse_duration` accepts, for error messages."""

_DURATION_PATTERN = re.compile(
    r"^\s*(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>us|ms|s|m)?\s*$"
)


def parse_duration(text: str | int | float) -> float:
    """Return the duration ``text`` in seconds.

    Accepts ``"500us"``, ``"250ms"``, ``"1.5s"``, ``"2m"`` (whitespace between number and
    unit is allowed), a bare numeric string (``"3"``) or an ``int``/``float``; bare numbers are
    seconds. Durations are never negative.

    Raises:
        ValueError: ``text`` is not one of the forms above, is negative, or is not finite. The
            message names the accepted forms.
    """
    if isinstance(text, bool):  # bool is an int subclass; `true` is never a duration
        raise ValueError(f"invalid duration {text!r}; use {ACCEPTED_FORMS}")
    if isinstance(text, int | float):
        seconds = float(text)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"invalid duration {text!r}; must be >= 0, use {ACCEPTED_FORMS}")
        return seconds
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}; use {ACCEPTED_FORMS}")
    match = _DURATION_PATTERN.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}; use {ACCEPTED_FORMS}")
    seconds = float(match["number"]) * SECONDS_PER_UNIT[match["unit"] or "s"]
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {text!r}; use {ACCEPTED_FORMS}")
    return seconds


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as a short human string that :func:`parse_duration` reads back.

    Picks the largest unit that keeps the number >= 1 (``us`` below 1 ms, ``ms`` below 1 s,
    ``s`` below a minute or when not a whole number of minutes, else ``m``) and prints at most
    three decimals of that unit (``1.5s``, ``250ms``, ``2m``); the round trip is exact to that
    precision. ``0`` is ``"0s"``.

    Raises:
        ValueError: ``seconds`` is negative or not finite.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format duration {seconds!r}; must be a finite number >= 0")
    if seconds == 0:
        return "0s"
    if seconds < SECONDS_PER_UNIT["ms"]:
        return f"{_trim_decimals(seconds / SECONDS_PER_UNIT['us'])}us"
    if seconds < 1:
        return f"{_trim_decimals(seconds / SECONDS_PER_UNIT['ms'])}ms"
    minutes = seconds / SECONDS_PER_UNIT["m"]
    if seconds >= 60 and math.isclose(minutes, round(minutes), abs_tol=1e-9):
        return f"{round(minutes)}m"
    return f"{_trim_decimals(seconds)}s"


def _trim_decimals(number: float) -> str:
    """``number`` with at most three decimals and no trailing zeros (``1.500`` -> ``"1.5"``)."""
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return text or "0"
