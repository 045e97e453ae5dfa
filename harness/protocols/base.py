"""What a member of a room does on the wire, without the wire: the client protocol interface.

A :class:`ClientProtocol` builds the frames a member sends and classifies the
frames it receives into :class:`Event` objects. It does no I/O, knows no
sockets, no Locust and no event loop, in the manner of websockets' Sans-I/O
``protocol.py``: the transports (the Locust user, the benchmark clients, the
tests' client) send what it builds and hand it what they receive.

The interface answers, for one wire protocol:

- how a member joins: :meth:`ClientProtocol.connect_url` (where it connects)
  and :meth:`ClientProtocol.join_frame` (what it sends; ``None`` when
  connecting joins, :attr:`ClientProtocol.joins_by_connect`);
- which incoming frame confirms the join: :class:`Joined` (or none, when
  :attr:`ClientProtocol.confirms_join` is false);
- how a member broadcasts: :meth:`ClientProtocol.broadcast_frame`, confirmed
  by :class:`Broadcasted` where :attr:`ClientProtocol.confirms_broadcast`;
- how to recognise a delivered message, with its sender, id and send
  timestamp where the protocol carries them: :class:`Delivered`;
- whether and how to acknowledge it: :meth:`ClientProtocol.ack_frame`;
- how to leave: :meth:`ClientProtocol.leave_frame` (a frame, or ``None`` for
  closing the connection), confirmed by :class:`Left` where
  :attr:`ClientProtocol.confirms_leave`;
- what an error frame is: :class:`ErrorReply`;
- a push the server originated (no member sent it): :class:`Pushed`;
- what the protocol answers by itself (a ping, a handshake step, an
  acknowledgement the server asked for): :class:`Answer`, and when a new
  connection is ready for operations: :class:`Opened`, awaited where
  :attr:`ClientProtocol.awaits_open`.

Each member has its own instance (the transport builds one per member from the
scenario's description), so an instance may keep state: the member's name, a
command counter, where a handshake is. The transport tells it about each
connection with :meth:`ClientProtocol.opened` (the frames to send first) and
:meth:`ClientProtocol.closed`. :meth:`ClientProtocol.classify` may return
several events for one frame (a batch), in the order they happened.

Frames out are ``str`` (sent as text frames) or ``bytes`` (binary frames);
frames in are ``str`` for text frames and ``bytes`` for binary ones.

A protocol whose delivered messages carry no send timestamp leaves
:attr:`Delivered.sent_at` at ``None``; the transport then times the delivery
with the send time the load generator put in :attr:`Delivered.id` itself
(:mod:`.sendtime`), in any Locust process.

:meth:`ClientProtocol.classify` never raises: a frame it cannot read comes back
as :class:`Unparseable`, a readable frame of a kind the interface has no event
for as :class:`Other`, each with a reason. A member's reading therefore
never ends over a bad frame; what to do about one is the transport's decision.

Events are small slotted dataclasses built once per frame with no validation
beyond the type checks :meth:`~ClientProtocol.classify` makes; the Locust user
classifies thousands of frames per second. Treat them as read-only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.protocols.sendtime import unstamped

__all__ = [
    "Answer",
    "Broadcasted",
    "ClientProtocol",
    "Delivered",
    "ErrorReply",
    "Event",
    "Events",
    "Frame",
    "Joined",
    "Left",
    "MessageId",
    "Opened",
    "Other",
    "Pushed",
    "Unparseable",
]

#: A message id as the sender chose it.
MessageId = str | int
#: A frame to send: text, or binary.
Frame = str | bytes


class Event:
    """One classified incoming frame.

    ``kind`` names the event for messages and logs; ``frame`` is the frame as
    parsed (``None`` for :class:`Unparseable`), for whoever needs more than
    the event's fields.
    """

    __slots__ = ()
    kind: ClassVar[str]
    frame: Any


@dataclass(slots=True)
class Joined(Event):
    """The join of ``member`` to ``room`` is confirmed; ``members`` counts the room, if told."""

    kind: ClassVar[str] = "joined"
    room: str | None
    member: str | None
    members: int | None
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Left(Event):
    """Leaving ``room`` is confirmed."""

    kind: ClassVar[str] = "left"
    room: str | None
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Broadcasted(Event):
    """The broadcast ``id`` to ``room`` was handed off to ``recipients`` members, if told."""

    kind: ClassVar[str] = "broadcasted"
    room: str | None
    id: MessageId | None
    recipients: int | None
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Delivered(Event):
    """A message from another member.

    ``sent_at`` is the sender's wall clock (seconds, as :func:`time.time`) as a
    float, ``None`` when the frame does not carry a usable one; ``seq`` is the
    receiver's sequence number, ``None`` when not carried. ``id`` is what
    :meth:`ClientProtocol.ack_frame` acknowledges; the load generator writes each
    id as its sender's name, own counter and send time (``member-N@T``, :mod:`.sendtime`);
    :attr:`counter` reads N.
    """

    kind: ClassVar[str] = "delivered"
    room: str | None
    sender: str | None
    id: MessageId
    sent_at: float | None
    seq: int | None
    body: Any = None
    frame: Any = field(default=None, repr=False)

    @property
    def counter(self) -> int | None:
        """The sender's own counter: an integer id, or the digits after an id's last ``-``
        (``member-3-17`` -> 17), past the send time the id may carry
        (``member-3-17@1765085267123456`` -> 17, :mod:`.sendtime`); ``None`` when the id
        carries none. Where a protocol has no ``seq``, the load generator finds lost and
        reordered messages with it."""
        if type(self.id) is int:
            return self.id
        digits = unstamped(self.id).rpartition("-")[2]
        return int(digits) if digits.isdigit() and len(digits) <= 18 else None


@dataclass(slots=True)
class Pushed(Event):
    """A push the server originated (a heartbeat, an update): no member sent it.

    ``id`` is the push's id where it carries one (for a push the harness triggered, the
    ``{id}`` it put in the trigger's request), ``sent_at`` the server's own clock (seconds,
    as :func:`time.time`) where the push carries it; how a push is timed is the scenario's
    ``[push] timing`` (:mod:`harness.push`), not the protocol's.
    """

    kind: ClassVar[str] = "pushed"
    room: str | None
    id: MessageId | None
    sent_at: float | None
    body: Any = None
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class ErrorReply(Event):
    """The server refused a command: ``code`` (machine-readable) and ``detail`` (for people)."""

    kind: ClassVar[str] = "error"
    code: str | None
    detail: str | None
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Answer(Event):
    """A frame the protocol answers by itself; the transport sends ``reply`` (if any) at once.

    Pings, handshake steps and acknowledgements a server asks for outside any
    operation. ``reason`` says what it was, for logs.
    """

    kind: ClassVar[str] = "answer"
    reply: Frame | None
    reason: str
    frame: Any = field(default=None, repr=False)


#: What :meth:`ClientProtocol.classify` returns: one event, or the events of a batch in order.
Events = Event | Sequence[Event]


@dataclass(slots=True)
class Opened(Event):
    """The connection's session is open: operations may start (see ``awaits_open``)."""

    kind: ClassVar[str] = "opened"
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Other(Event):
    """A well-formed frame the interface has no event for (``reason`` says what it is)."""

    kind: ClassVar[str] = "other"
    reason: str
    frame: Any = field(default=None, repr=False)


@dataclass(slots=True)
class Unparseable(Event):
    """A frame the protocol cannot read; ``reason`` says why, ``raw`` is what arrived."""

    kind: ClassVar[str] = "unparseable"
    reason: str
    raw: str | bytes = ""
    frame: Any = field(default=None, repr=False)


class ClientProtocol(ABC):
    """One wire protocol, seen from a member: frames out, events in. No I/O.

    The contract the transport (harness.loadgen.user) keeps, for a user's own
    class as for the built-in ones:

    - one instance per member, built with :meth:`from_description`; it lives as
      long as the member, across its reconnections;
    - for each connection: :meth:`connect_url` (where), then, once the WebSocket
      is open and before anything is read, :meth:`opened` (frames sent at once,
      in order); where :attr:`awaits_open`, nothing else is sent until
      :meth:`classify` returned :class:`Opened`; :meth:`closed` once the
      connection ended, whichever side ended it;
    - an operation whose ``confirms_*`` flag is false is done once its frame is
      sent; one whose leave frame is ``None`` leaves by closing the connection;
    - :meth:`classify` sees every frame of the member, in order, from one reader, and
      never raises; its :class:`Answer` replies are sent at once, in order.

    Frames are ``str`` (sent as text frames) or ``bytes`` (binary frames).
    """

    #: The name the registry (:data:`harness.protocols.PROTOCOLS`) knows it by.
    name: ClassVar[str]

    #: Connecting to :meth:`connect_url` is the join, and closing is the leave.
    joins_by_connect: bool = False
    #: A new connection sends :class:`Opened` before operations may start.
    awaits_open: bool = False
    #: The server confirms a join with a :class:`Joined` (else the join is done once sent
    #: or, joining by connecting, once connected).
    confirms_join: bool = True
    #: The server confirms a broadcast with a :class:`Broadcasted` (else: done once sent).
    confirms_broadcast: bool = True
    #: The server confirms a leave frame with a :class:`Left` (else: done once sent).
    confirms_leave: bool = True
    #: Members can broadcast (:meth:`broadcast_frame` builds a frame); false for a protocol
    #: described for listen-only members of a server-push room (``[push]``).
    broadcasts: bool = True

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> ClientProtocol:
        """An instance set up by the scenario's ``[protocol]`` table, ``kind`` left out.

        By default a protocol takes no settings.

        Raises:
            ValueError: a key it does not know, a bad value; the message is one line.
        """
        for key in description:
            raise ValueError(f"unknown key '{key}' ({cls.name} takes no settings besides kind)")
        return cls()

    def connect_url(self, url: str, room: str, member: str) -> str:
        """The URL a member of ``room`` named ``member`` connects to; by default ``url``.

        ``url`` is the member's own ``ws://`` or ``wss://`` URL: the target's path
        and query as the user gave them (perhaps no path at all) on the host and
        port the member goes through (the target, or a proxy in front of it).
        Keep its scheme and host; change the path and query only. Called before
        each connection. A protocol that joins by connecting returns the room's
        URL here and ``None`` from :meth:`join_frame`.
        """
        return url

    def opened(self, room: str, member: str) -> Sequence[Frame]:
        """A new connection of ``member`` (of ``room``) is open: the frames to send first.

        Called once per connection, before the first frame is read and before
        any operation; reset per-connection state here. By default none.
        """
        return ()

    def closed(self) -> None:
        """The member let go of its connection: it closed it, or found it closed or broken
        (then at the latest before its next connection). By default nothing."""
        return None

    @abstractmethod
    def join_frame(self, room: str, member: str) -> Frame | None:
        """The frame that joins ``room`` as ``member``; ``None`` if connecting joins."""

    @abstractmethod
    def leave_frame(self, room: str) -> Frame | None:
        """The frame that leaves ``room``; ``None`` if leaving means closing the connection."""

    @abstractmethod
    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> Frame:
        """The frame that sends ``body`` to everyone else in ``room``.

        ``message_id`` is unique per sender; ``sent_at`` is the sender's wall
        clock in seconds (:func:`time.time`), carried to the receivers where
        the protocol allows, so they can measure delivery time.
        """

    @abstractmethod
    def ack_frame(self, message: Delivered) -> Frame | None:
        """The receipt to send for ``message``; ``None`` if the protocol has none."""

    @abstractmethod
    def classify(self, raw: str | bytes) -> Events:
        """The event one incoming frame stands for, or its events in order (a frame that
        carries several messages). Never raises."""
