"""``[push]``: a server-push room, read once and carried to Locust as JSON (``--push``).

::

    [push]
    timing = "heartbeat"        # or "server_clock", or "trigger"
    period = "1s"               # heartbeat: the gap the server promises between pushes
    members_broadcast = false   # members only listen (the default); true: they chat too

    [push.trigger]              # timing = "trigger": the harness makes the server push
    method = "POST"
    url = "/tasks?room={room}"  # a path on the target's host and port, or an http(s) URL
    body = '{"id": "{id}", "text": "{body}"}'
    interval = "200ms"

How each push is timed (docs/protocols.md, "Server-push rooms"):

- ``server_clock``: arrival minus the push's own ``sent_at`` (the server's clock). The
  assumption: the server and the members share one clock (one machine, or clocks kept in step
  far closer than the thresholds). Nothing is owed: a server that stops pushing leaves
  ``deliver`` without samples, which the verdict calls ERROR (no data), never PASS.
- ``heartbeat``: each push is due ``period`` after the previous one (after the join for the
  first); its ``deliver`` time is how late it came. A member is owed every heartbeat due while
  it is in the room; one that never comes is in flight from its due time, and ``lost`` (with
  an ``unfinished`` sample) once the member leaves or the run ends.
- ``trigger``: the harness calls the HTTP trigger for every room each ``interval``; each push
  carrying the trigger's ``{id}`` is timed from the request's start to its receipt, and every
  member in the room when the request started is owed it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.durations import parse_duration

__all__ = ["HEARTBEAT", "SERVER_CLOCK", "TIMINGS", "TRIGGER", "PushSettings",
           "TriggerSettings"]

SERVER_CLOCK = "server_clock"
HEARTBEAT = "heartbeat"
TRIGGER = "trigger"
#: The ways a push is timed, chosen by ``[push] timing``.
TIMINGS: tuple[str, ...] = (SERVER_CLOCK, HEARTBEAT, TRIGGER)
KEYS: tuple[str, ...] = ("timing", "period", "members_broadcast", "trigger")
TRIGGER_KEYS: tuple[str, ...] = ("method", "url", "body", "interval", "content_type")
#: The placeholders of the trigger's ``url`` and ``body``.
TRIGGER_PLACEHOLDERS: tuple[str, ...] = ("room", "id", "sent_at", "body")
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: The shortest heartbeat period and trigger interval (a loaded 2-core box cannot time less).
MIN_PERIOD_S = 0.05


#: A placeholder: a name in braces (``{"id": 1}`` is JSON, not a placeholder).
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_template(text: str, where: str) -> None:
    """Raise ValueError (one line) for a placeholder ``text`` may not name."""
    for name in PLACEHOLDER.findall(text):
        if name not in TRIGGER_PLACEHOLDERS:
            raise ValueError(f"{where} names unknown placeholder {{{name}}}; it may use "
                             + ", ".join(f"{{{known}}}" for known in TRIGGER_PLACEHOLDERS))


@dataclass(frozen=True)
class TriggerSettings:
    """The HTTP request that makes the server push (``[push.trigger]``)."""

    url: str
    method: str = "POST"
    body: str = ""
    interval_s: float = 0.5
    content_type: str = "application/json"


@dataclass(frozen=True)
class PushSettings:
    """``[push]``, checked. ``timing`` is one of :data:`TIMINGS`."""

    timing: str
    period_s: float = 0.0
    members_broadcast: bool = False
    trigger: TriggerSettings | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> PushSettings:
        """The settings a ``[push]`` table describes.

        Raises:
            ValueError: one line saying what is wrong and how to write it.
        """
        for key in table:
            if key not in KEYS:
                raise ValueError(f"unknown key '{key}' in [push] (allowed: {', '.join(KEYS)})")
        timing = table.get("timing")
        if timing not in TIMINGS:
            raise ValueError(f"[push] timing must be one of {', '.join(TIMINGS)}, got "
                             f"{timing!r}; e.g. timing = \"heartbeat\"")
        members_broadcast = table.get("members_broadcast", False)
        if not isinstance(members_broadcast, bool):
            raise ValueError("[push] members_broadcast must be true or false")
        period_s = 0.0
        if timing == HEARTBEAT:
            if "period" not in table:
                raise ValueError('[push] timing = "heartbeat" needs period, the gap the server '
                                 'promises between pushes, e.g. period = "1s"')
            period_s = _duration(table["period"], "[push] period")
        elif "period" in table:
            raise ValueError(f'[push] period goes with timing = "heartbeat", not {timing!r}; '
                             "drop it")
        trigger = None
        if timing == TRIGGER:
            if not isinstance(table.get("trigger"), Mapping):
                raise ValueError('[push] timing = "trigger" needs a [push.trigger] table with '
                                 'url, e.g. url = "/tasks?room={room}"')
            trigger = _trigger(table["trigger"])
        elif "trigger" in table:
            raise ValueError(f'[push.trigger] goes with timing = "trigger", not {timing!r}; '
                             "drop it")
        return cls(timing, period_s, members_broadcast, trigger)

    def to_json(self) -> str:
        """The settings as Locust's ``--push`` takes them."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PushSettings | None:
        """The settings :meth:`to_json` wrote; ``None`` for ``""`` (no ``[push]``)."""
        if not text:
            return None
        data = json.loads(text)
        trigger = data.pop("trigger", None)
        return cls(**data, trigger=TriggerSettings(**trigger) if trigger else None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``result.json`` (durations in seconds)."""
        return asdict(self)


def _duration(value: Any, label: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    if seconds < MIN_PERIOD_S:
        raise ValueError(f"{label} must be at least {MIN_PERIOD_S * 1000:g}ms, got "
                         f"{seconds:g}s; use e.g. \"1s\"")
    return seconds


def _trigger(table: Mapping[str, Any]) -> TriggerSettings:
    for key in table:
        if key not in TRIGGER_KEYS:
            raise ValueError(f"unknown key '{key}' in [push.trigger] (allowed: "
                             f"{', '.join(TRIGGER_KEYS)})")
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError('[push.trigger] needs url, a path on the target ("/tasks?room={room}") '
                         "or an http:// or https:// URL")
    check_template(url, "[push.trigger] url")
    parts = urlsplit(url)
    if not (url.startswith("/") or parts.scheme in ("http", "https") and parts.netloc):
        raise ValueError(f"[push.trigger] url {url!r} must be a path (\"/tasks\") or an "
                         "http:// or https:// URL")
    method = table.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"[push.trigger] method must be one of {', '.join(METHODS)}, got "
                         f"{method!r}")
    body = table.get("body", "")
    if not isinstance(body, str):
        raise ValueError("[push.trigger] body must be a string (the request body), e.g. "
                         "body = '{\"id\": \"{id}\"}'")
    check_template(body, "[push.trigger] body")
    if "{id}" not in url + body:
        raise ValueError("[push.trigger] names {id} nowhere in url or body: the server's push "
                         "must carry the trigger's id back, or it cannot be matched and timed")
    content_type = table.get("content_type", "application/json")
    if not isinstance(content_type, str) or not content_type:
        raise ValueError("[push.trigger] content_type must be a media type, e.g. "
                         "\"application/json\"")
    interval_s = _duration(table.get("interval", "500ms"), "[push.trigger] interval")
    return TriggerSettings(url, method.upper(), body, interval_s, content_type)
