"""Shipped scenarios cut short for the suite: the same TOML with other ``[timing]`` values."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["with_timing"]


def with_timing(source: Path, **timing: str) -> str:
    """``source``'s text with each given ``[timing]`` key (``warmup="2s"``...) set anew.

    Raises:
        AssertionError: a key is not set exactly once in the file (it would not be shortened).
    """
    text = source.read_text()
    for key, value in timing.items():
        text, count = re.subn(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, flags=re.M)
        assert count == 1, f"{source.name}: {key} is set {count} times, not once"
    return text
