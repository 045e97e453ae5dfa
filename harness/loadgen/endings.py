"""How a member's WebSocket connections ended, kept only where someone can still ask.

The member's reading (:mod:`harness.loadgen.receiver`) records each connection's ending (close
code and reason, or the error that ended it); a stall watch reads its connection's later,
possibly after the member has reconnected. A member that joins by connecting reconnects every
cycle, so nothing is kept per connection: only the latest ending (a watch that begins just after
its connection ended finds it there), and each watch keeps its own connection's.
"""

from __future__ import annotations

import weakref

import websocket

__all__ = ["ConnectionEndings", "Ending", "EndingInfo"]

#: ``(close code or None, reason)``.
EndingInfo = tuple[int | None, str]


class Ending:
    """How one watched connection ended, read later (the user may have reconnected)."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.seen: EndingInfo | None = None

    def get(self) -> EndingInfo | None:
        """``(close code or None, reason)`` once the connection ended, else None."""
        return self.seen


class ConnectionEndings:
    """A member's connection endings: the latest one, and those of watched connections.

    Holds at most one ending besides the watches alive (:meth:`__len__`), however many
    connections the member makes.
    """

    def __init__(self) -> None:
        self._latest: tuple[websocket.WebSocket, EndingInfo] | None = None
        self._watches: weakref.WeakSet[Ending] = weakref.WeakSet()

    def record(self, ws: websocket.WebSocket, code: int | None, reason: str) -> None:
        """Record how ``ws`` ended; the first record of a connection stays."""
        if self._latest is not None and self._latest[0] is ws:
            return
        ending = (code, reason)
        self._latest = (ws, ending)
        for watch in list(self._watches):
            if watch.ws is ws:
                watch.seen = ending
                self._watches.discard(watch)

    def watch(self, ws: websocket.WebSocket) -> Ending:
        """An :class:`Ending` that gets ``ws``'s ending, also after later connections end."""
        watch = Ending(ws)
        if self._latest is not None and self._latest[0] is ws:
            watch.seen = self._latest[1]
        else:
            self._watches.add(watch)
        return watch

    def __len__(self) -> int:
        """How many endings and pending watches are held."""
        return (self._latest is not None) + len(self._watches)
