"""Scenario TOML for the suite: shipped scenarios cut short, and short runs of the tests' own.

:func:`with_timing` takes a shipped scenario and sets other ``[timing]`` values.
:func:`room_scenario` writes a short scenario of one room from its values; the crowds that
several test files run are named once here: :func:`four_members` (a small room, one member
slow), :func:`stall_of_one_in_four` (big bodies, a long stall) and
:func:`one_slow_member_of_six` (the write-delivery server's member faults).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["four_members", "one_slow_member_of_six", "room_scenario", "stall_of_one_in_four",
           "with_timing"]


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


def room_scenario(
    name: str,
    *,
    members: int,
    slow_members: int,
    spawn_rate: int,
    broadcast_interval: str,
    stay: str,
    away: str,
    warmup: str,
    fault: str,
    cooldown: str,
    thresholds: str,
    header: str = "",
    load: str = "",
    evidence_window: str | None = None,
    faults: str = "",
    max_generator_lag: str | None = None,
    after: str = "",
) -> str:
    """A scenario of one room, as TOML text.

    Args:
        name: its ``name``.
        members, slow_members, spawn_rate, broadcast_interval, stay, away: its ``[load]``.
        warmup, fault, cooldown: its ``[timing]``.
        thresholds: the lines of its ``[thresholds]`` table.
        header: lines before ``[load]`` (a description, a ``[target]`` table).
        load: more lines after ``[load]``'s (``body_size``, a ``[network]`` table).
        evidence_window: its ``[timing] evidence_window``, if any.
        faults: its ``[[faults]]`` tables, if any.
        max_generator_lag: its ``[thresholds] max_generator_lag``, if any.
        after: tables after ``[thresholds]`` (``[expect]``, ``[protocol]``).
    """
    timing = f'warmup = "{warmup}"\nfault = "{fault}"\ncooldown = "{cooldown}"'
    if evidence_window is not None:
        timing += f'\nevidence_window = "{evidence_window}"'
    lag = "" if max_generator_lag is None else f'\nmax_generator_lag = "{max_generator_lag}"'
    parts = [
        f'name = "{name}"', header.strip(),
        f"""[load]
rooms = 1
members = {members}
slow_members = {slow_members}
spawn_rate = {spawn_rate}
broadcast_interval = "{broadcast_interval}"
stay = "{stay}"
away = "{away}"
{load.strip()}""".strip(),
        f"[timing]\n{timing}", faults.strip(), f"[thresholds]\n{thresholds.strip()}{lag}",
        after.strip(),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def stall_of_one_in_four(name: str, *, thresholds: str, header: str = "",
                         body_size: str = "32KiB", network: str = "") -> str:
    """Four members, one of whom stops reading for 7 s while 32 KiB bodies go out every 50 ms.

    Big bodies fill a machine's socket buffers (megabytes) within the stall; 6 s of cool-down
    leave it time to clear. A generator lag up to 2 s: these runs test the stall, not the lag
    guard (test_chaos_run does).
    """
    return room_scenario(
        name, header=header, members=4, slow_members=1, spawn_rate=8,
        broadcast_interval="50ms", stay="1s", away="100ms",
        load=f'body_size = "{body_size}"\n{network}', warmup="3s", fault="7s", cooldown="6s",
        evidence_window="1s", faults='[[faults]]\nkind = "stall"', thresholds=thresholds,
        max_generator_lag="2s")


def one_slow_member_of_six(name: str, *, faults: str, thresholds: str, expect: str,
                           fault: str = "6s", header: str = "", load: str = "",
                           evidence_window: str | None = None) -> str:
    """Six members who stay 2 s, one of them slow, with its member fault for ``fault``.

    These runs are short: a 200 ms hiccup of a loaded machine is a generator lag p99 over
    100 ms, so lag is allowed up to 1 s; they test the fault, not the lag guard
    (test_chaos_run does). ``expect``: the lines of the ``[expect]`` table.
    """
    return room_scenario(
        name, header=header, members=6, slow_members=1, spawn_rate=6,
        broadcast_interval="100ms", stay="2s", away="200ms", load=load, warmup="3s",
        fault=fault, cooldown="2s", evidence_window=evidence_window, faults=faults,
        thresholds=thresholds, max_generator_lag="1s", after=f"[expect]\n{expect}")


def four_members(name: str, *, warmup: str, fault: str, cooldown: str, thresholds: str,
                 header: str = "", faults: str = "", after: str = "") -> str:
    """Four members in one room, one of them slow, joining at eight a second.

    They broadcast every 200 ms and stay 1 s: a handful of samples a second, enough for
    ``min_samples`` of 5 or 10 within a few seconds.
    """
    return room_scenario(
        name, header=header, members=4, slow_members=1, spawn_rate=8,
        broadcast_interval="200ms", stay="1s", away="100ms", warmup=warmup, fault=fault,
        cooldown=cooldown, faults=faults, thresholds=thresholds, after=after)
