"""Checking a user's protocol class against the contract before a run starts.

:func:`check_class` is what the scenario reader runs for ``kind = "module:Class"``:
it refuses, in one line naming the method, a class that leaves an abstract method
undefined, a method that raises on ordinary input, or one that returns the wrong
type. It calls every method once on a throwaway instance, as a member would
(``connect_url``, ``opened``, ``join_frame``, ``broadcast_frame``, ``classify``,
``ack_frame``, ``leave_frame``, ``closed``); a run then never meets these
mistakes as tracebacks inside Locust.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.protocols.base import ClientProtocol, Delivered, Event

__all__ = ["check_class"]

#: Where the contract is written down, for the error messages.
CONTRACT = "see docs/protocols.md, \"Your own class\""

_URL = "ws://127.0.0.1:9/ws"
_ROOM, _MEMBER = "room-0", "fast-0"
_FLAGS = ("joins_by_connect", "awaits_open", "confirms_join", "confirms_broadcast",
          "confirms_leave", "broadcasts")


def _frame(value: Any) -> bool:
    return isinstance(value, str | bytes)


def _frame_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str | bytes)


def _events(value: Any) -> bool:
    if isinstance(value, Event):
        return True
    return isinstance(value, list | tuple) and all(isinstance(item, Event) for item in value)


def _frames(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(_frame(item) for item in value)


def _call(cls: type[ClientProtocol], method: str, call: Callable[[], Any],
          valid: Callable[[Any], bool], wanted: str) -> Any:
    """``call()``'s result, or ValueError naming ``cls.method`` (it raised, or the type)."""
    where = f"{cls.__module__}:{cls.__qualname__}.{method}"
    try:
        result = call()
    except Exception as exc:
        text = " ".join(str(exc).split()) or "(no message)"
        raise ValueError(f"protocol {where} raised {type(exc).__name__}: {text}; "
                         f"{CONTRACT}") from None
    if not valid(result):
        raise ValueError(f"protocol {where} returned {type(result).__name__} "
                         f"({result!r:.60}); it must return {wanted}; {CONTRACT}")
    return result


def check_class(cls: type[ClientProtocol], description: Mapping[str, Any]) -> None:
    """Refuse ``cls`` (built from ``description``) if it breaks the contract.

    Raises:
        ValueError: one line naming the method and what is wrong.
    """
    name = f"{cls.__module__}:{cls.__qualname__}"
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise ValueError(f"protocol {name} does not define {', '.join(missing)} (abstract "
                         f"in ClientProtocol); {CONTRACT}")
    protocol = _call(cls, "from_description", lambda: cls.from_description(description),
                     lambda value: isinstance(value, ClientProtocol),
                     "an instance of a ClientProtocol")
    for flag in _FLAGS:
        if not isinstance(getattr(protocol, flag), bool):
            raise ValueError(f"protocol {name}.{flag} is {getattr(protocol, flag)!r}; it must "
                             f"be True or False; {CONTRACT}")
    _call(cls, "connect_url", lambda: protocol.connect_url(_URL, _ROOM, _MEMBER),
          lambda value: isinstance(value, str) and value.startswith(("ws://", "wss://")),
          "a ws:// or wss:// URL (str)")
    _call(cls, "opened", lambda: protocol.opened(_ROOM, _MEMBER), _frames,
          "a list or tuple of frames (str or bytes)")
    join = _call(cls, "join_frame", lambda: protocol.join_frame(_ROOM, _MEMBER),
                 _frame_or_none, "a frame (str or bytes) or None")
    if join is None and not protocol.joins_by_connect:
        raise ValueError(f"protocol {name}.join_frame returned None but joins_by_connect is "
                         f"False; return the join frame, or set joins_by_connect = True; "
                         f"{CONTRACT}")
    if protocol.broadcasts:  # else its members only listen (a server-push room)
        _call(cls, "broadcast_frame",
              lambda: protocol.broadcast_frame(_ROOM, f"{_MEMBER}-1", "hello", 1764582000.5),
              _frame, "a frame (str or bytes)")
    for raw in ("", b"", "{}"):
        _call(cls, "classify", lambda raw=raw: protocol.classify(raw), _events,  # type: ignore[misc]
              "an Event or a list of Events (it must never raise)")
    _call(cls, "ack_frame",
          lambda: protocol.ack_frame(Delivered(_ROOM, "fast-1", "fast-1-1", None, None)),
          _frame_or_none, "a frame (str or bytes) or None")
    _call(cls, "leave_frame", lambda: protocol.leave_frame(_ROOM), _frame_or_none,
          "a frame (str or bytes) or None")
    _call(cls, "closed", protocol.closed, lambda value: value is None, "None")
