"""The slow-member case cut short, as scenario TOML: for self-tests that run the harness for real.

The benchmark's self-test (:mod:`harness.bench.verdict_time`) and the tests that
run ``harness run``, ``matrix`` or the web UI all need a scenario of a few
seconds: one room, one slow member, a latency fault on it. They differ in their
``[target]`` options, their checks, their length and their member count, which
are the arguments here; everything else is written once.
"""

from __future__ import annotations

__all__ = ["short_slow_member"]


def short_slow_member(
    name: str,
    *,
    target: str,
    thresholds: str,
    description: str | None = None,
    members: int = 6,
    warmup: str = "2s",
    fault: str = "3s",
    cooldown: str = "1s",
    jitter: str | None = "20ms",
) -> str:
    """The scenario's TOML text.

    Args:
        name: the scenario's ``name``.
        target: the lines of its ``[target]`` table.
        thresholds: the lines of its ``[thresholds]`` table.
        description: its ``description``, if any.
        members: members, one of them slow; they all join within a second.
        warmup: how long before the fault starts.
        fault: how long the latency fault (500 ms on the slow member) lasts.
        cooldown: how long the run goes on after the fault.
        jitter: the fault's jitter, if any.
    """
    header = f'name = "{name}"\n'
    if description is not None:
        header += f'description = "{description}"\n'
    jitter_line = "" if jitter is None else f'jitter = "{jitter}"\n'
    return f"""{header}
[target]
{target.strip()}

[load]
rooms = 1
members = {members}
slow_members = 1
spawn_rate = {members}
broadcast_interval = "200ms"
stay = "1s"
away = "100ms"

[timing]
warmup = "{warmup}"
fault = "{fault}"
cooldown = "{cooldown}"

[[faults]]
kind = "latency"
latency = "500ms"
{jitter_line}
[thresholds]
{thresholds.strip()}
"""
