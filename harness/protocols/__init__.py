"""Client-side wire protocols, one file each, Sans-I/O (see :mod:`harness.protocols.base`).

:data:`PROTOCOLS` maps a protocol's name to its class; adding a protocol is its
own file and one line here. A scenario's ``[protocol]`` table names one of them
as ``kind``, or a user's own :class:`ClientProtocol` subclass as
``"module:Class"``; :func:`build_protocol` makes the instance.
:data:`ROOMCHAOS` is the stateless instance of docs/wire-protocol.md that the
harness's members, benchmarks and tests share.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

from harness.protocols import base
from harness.protocols.base import *  # noqa: F403  (the interface, re-exported)
from harness.protocols.base import ClientProtocol
from harness.protocols.contract import check_class
from harness.protocols.jsonframes import JsonFrames
from harness.protocols.roomchaos import RoomChaos
from harness.protocols.socketio import SocketIO

__all__ = [*base.__all__, "PROTOCOLS", "ROOMCHAOS", "JsonFrames", "RoomChaos", "SocketIO",
           "build_protocol", "check_protocol", "protocol_class"]

#: Every built-in client protocol by name.
PROTOCOLS: dict[str, type[ClientProtocol]] = {
    RoomChaos.name: RoomChaos,
    JsonFrames.name: JsonFrames,
    SocketIO.name: SocketIO,
}

#: docs/wire-protocol.md, client side; stateless, so one instance serves every connection.
ROOMCHAOS = RoomChaos()


def protocol_class(kind: str) -> type[ClientProtocol]:
    """The class a ``[protocol] kind`` names: a built-in name, or ``"module:Class"``.

    Raises:
        ValueError: unknown name, a relative module name, a module that does not import
            (or raises while it is imported), or not a ClientProtocol.
    """
    if kind in PROTOCOLS:
        return PROTOCOLS[kind]
    module_name, colon, class_name = kind.partition(":")
    if not colon or not module_name or not class_name:
        raise ValueError(f"unknown protocol kind {kind!r}; use one of "
                         f"{', '.join(PROTOCOLS)}, or \"module:Class\" for your own class")
    if module_name.startswith("."):
        raise ValueError(f"protocol kind {kind!r}: {module_name!r} is a relative module name; "
                         "give the module's full dotted name (e.g. \"mypackage.proto:MyClass\")")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"protocol kind {kind!r}: cannot import {module_name!r} ({exc}); "
                         "put the module on PYTHONPATH") from None
    except Exception as exc:  # the user's module raised while it was imported
        raise ValueError(f"protocol kind {kind!r}: importing {module_name!r} raised "
                         f"{type(exc).__name__}: {_one_line(exc)}; fix that module") from None
    try:
        found = getattr(module, class_name)
    except AttributeError:
        raise ValueError(f"protocol kind {kind!r}: module {module_name!r} has no "
                         f"{class_name!r}") from None
    if not (isinstance(found, type) and issubclass(found, ClientProtocol)):
        raise ValueError(f"protocol kind {kind!r} is not a subclass of "
                         "harness.protocols.ClientProtocol")
    return found


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (a user's module may raise any text)."""
    return " ".join(str(exc).split()) or "(no message)"


def build_protocol(description: Mapping[str, Any] | str) -> ClientProtocol:
    """The protocol a ``[protocol]`` table describes (a mapping, or its JSON text).

    ``kind`` defaults to ``roomchaos``; the rest of the table goes to the class's
    :meth:`~ClientProtocol.from_description`.

    Raises:
        ValueError: a one-line description of what is wrong.
    """
    table = dict(json.loads(description) if isinstance(description, str) else description)
    kind = table.pop("kind", RoomChaos.name)
    if not isinstance(kind, str):
        raise ValueError(f"kind must be a string, got {kind!r}")
    return protocol_class(kind).from_description(table)


def check_protocol(description: Mapping[str, Any]) -> None:
    """Check a ``[protocol]`` table before a run: build it, and hold a user's class to the
    contract (:func:`~harness.protocols.contract.check_class`).

    Raises:
        ValueError: a one-line description of what is wrong.
    """
    table = dict(description)
    kind = table.pop("kind", RoomChaos.name)
    if not isinstance(kind, str):
        raise ValueError(f"kind must be a string, got {kind!r}")
    cls = protocol_class(kind)
    if kind in PROTOCOLS:
        cls.from_description(table)
    else:
        check_class(cls, table)
