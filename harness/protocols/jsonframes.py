"""Any JSON-over-WebSocket room protocol, described in the scenario with no code ("json").

A scenario's ``[protocol]`` table with ``kind = "json"`` gives frame templates
and match rules (docs/protocols.md has worked examples)::

    [protocol]
    kind = "json"
    url = "/chat?room={room}&user={member}"     # where a member connects
    broadcast = {op = "say", text = "{body}", msg_id = "{id}", at = "{sent_at}"}
    message = {op = "said"}                    # what a delivered message looks like
    message_fields = {id = "msg_id", sender = "user", sent_at = "at", body = "text"}

Templates (``url``, ``join``, ``leave``, ``broadcast``, ``ack``) name the
placeholders ``{room}``, ``{member}``, ``{id}``, ``{sent_at}`` and ``{body}``
(each template only those it can know, see :data:`PLACEHOLDERS`). A frame
template is a TOML table or array sent as compact JSON: a string that is one
placeholder alone becomes that value with its type (``"{sent_at}"`` a
number), a placeholder inside a longer string is replaced by its text. The
``url`` template gives the path and query; the host is the member's (the
target's, or its proxy's), and the values are URL-quoted.

Without a ``join`` frame, connecting to ``url`` is the join and closing the
connection is the leave. Without ``joined``, ``broadcasted`` or ``left`` rules
the server confirms nothing, and the operation is done once its frame is sent
(or, joining, once the connection is open). Without an ``ack`` template no
receipt is sent.

A server-push room (docs/protocols.md, "Server-push rooms"): ``push`` is the rule a push
the server originates matches (a heartbeat, an update), ``push_fields`` where its ``id``,
``sent_at``, ``room`` and ``body`` are; with ``push``, ``broadcast`` and ``message`` may both
be left out (listen-only members); ``push_ack`` (``{room}``, ``{member}``, ``{id}``) is the
receipt a server that waits for one wants for each push.

Servers that want more than a join (docs/protocols.md, "A messaging server"):

- ``handshake``: steps sent on every new connection before the first join, each a
  ``send`` template and, where something confirms it, a ``reply`` rule; the
  connection is ready (:class:`~harness.protocols.base.Opened`) once the last
  confirmed step is;
- ``{cmd}`` and ``reply_id``: ``{cmd}`` is the member's command counter (1, 2, ...
  per connection); the frame whose ``reply_id`` path holds a command's number is
  that command's reply, so it confirms (or, matching ``error``, fails) it;
- ``answers``: frames answered at once (``equals`` a whole frame, or ``match`` a
  rule; ``reply`` a template), tried before every rule: pings;
- ``separator``: one frame carries several messages; each part is classified as
  if it came alone, and :meth:`JsonFrames.classify` returns their events in order.

Every template may name ``{member}``. One instance serves one member: it keeps the
member's name and room, its command counter and where the handshake is.

A match rule is a table of ``path = value``: the frame matches when every
path holds exactly that value (``"*"`` means the path exists, whatever its
value). A path is dotted keys and array indexes into the frame
(``"data.kind"``, ``"args.0"``). Incoming frames are matched against
``answers``, the waiting handshake step, the command ids, then ``error``,
``joined``, ``left``, ``broadcasted``, ``push`` and ``message``, in this order; one
that matches none is :class:`~harness.protocols.base.Other` and answers
nothing. :meth:`JsonFrames.from_description` refuses a description with an
unknown key, a template naming an unknown placeholder, or a rule that can
never match (see :func:`_never_matches`).
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from harness.protocols import base
from harness.protocols.base import ClientProtocol, Delivered, Event, MessageId
from harness.protocols.fields import seconds

__all__ = ["JsonFrames", "PLACEHOLDERS"]

#: The placeholders each template may name.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "url": ("room", "member"),
    "join": ("room", "member", "cmd"),
    "leave": ("room", "member", "cmd"),
    "broadcast": ("room", "member", "id", "sent_at", "body", "cmd"),
    "ack": ("room", "member", "id"),
    "push_ack": ("room", "member", "id"),
}
#: The placeholders of a handshake step's ``send`` and of an answer's ``reply``.
STEP_PLACEHOLDERS: tuple[str, ...] = ("room", "member", "cmd")
ANSWER_PLACEHOLDERS: tuple[str, ...] = ("room", "member")
#: Match rules, in the order a frame is tried against them.
RULES: tuple[str, ...] = ("error", "joined", "left", "broadcasted", "push", "message")
#: The templates that are commands, whose reply can be matched by ``reply_id``.
COMMANDS: tuple[str, ...] = ("join", "leave", "broadcast")
_CONFIRMS = {"join": "joined", "leave": "left", "broadcast": "broadcasted"}
#: Where a delivered message keeps each of its parts (a path, as in a rule).
MESSAGE_FIELDS: tuple[str, ...] = ("id", "sender", "sent_at", "room", "body")
ERROR_FIELDS: tuple[str, ...] = ("code", "detail")
#: Where a push the server originated keeps each of its parts (none is required).
PUSH_FIELDS: tuple[str, ...] = ("id", "sent_at", "room", "body")
KEYS: tuple[str, ...] = (*PLACEHOLDERS, *RULES, "message_fields", "error_fields",
                         "push_fields", "handshake", "answers", "separator", "reply_id")

#: A rule value that matches any value at its path.
ANY = "*"

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_MISSING = object()


@dataclass(frozen=True)
class _Fill:
    """A template string with placeholders.

    ``whole``: the string is one placeholder alone, named ``text``, and is replaced by the
    value itself; otherwise ``text`` is filled in with the values' text (``str.format``).
    """

    text: str
    whole: bool


def _placeholders(text: str, where: str, allowed: tuple[str, ...]) -> list[str]:
    """The placeholders ``text`` names, each checked against ``allowed``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{where}: bad template {text!r} ({exc}); write a literal brace "
                         "twice ({{ or }})") from None
    names: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in allowed:
            raise ValueError(f"{where} names unknown placeholder {{{field}}}; it may use "
                             + ", ".join(f"{{{name}}}" for name in allowed))
        if spec or conversion:
            raise ValueError(f"{where}: placeholder {{{field}}} takes no format or "
                             "conversion; write it as {" + field + "}")
        names.append(field)
    return names


def _compile(node: Any, where: str, allowed: tuple[str, ...]) -> Any:
    """A template with its strings turned into :class:`_Fill`."""
    if isinstance(node, str):
        names = _placeholders(node, where, allowed)
        if not names:
            return node.replace("{{", "{").replace("}}", "}")
        if len(names) == 1 and node == "{" + names[0] + "}":
            return _Fill(names[0], whole=True)
        return _Fill(node, whole=False)
    if isinstance(node, Mapping):
        return {str(key): _compile(value, f"{where}.{key}", allowed)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_compile(item, f"{where}[{index}]", allowed) for index, item in enumerate(node)]
    if isinstance(node, bool | int) or isinstance(node, float) and math.isfinite(node):
        return node
    raise ValueError(f"{where}: {node!r} cannot be sent as JSON; use a string, number, "
                     "boolean, table or array")


def _uses(node: Any, name: str) -> bool:
    """A compiled template names the placeholder ``name``."""
    if type(node) is _Fill:
        return node.text == name if node.whole else "{" + name + "}" in node.text.replace(
            "{{", "").replace("}}", "")
    if type(node) is dict:
        return any(_uses(value, name) for value in node.values())
    if type(node) is list:
        return any(_uses(item, name) for item in node)
    return False


def _render(node: Any, values: Mapping[str, Any]) -> Any:
    if type(node) is _Fill:
        return values[node.text] if node.whole else node.text.format_map(values)
    if type(node) is dict:
        return {key: _render(value, values) for key, value in node.items()}
    if type(node) is list:
        return [_render(item, values) for item in node]
    return node


def _path(text: str, where: str) -> tuple[str | int, ...]:
    """A dotted path into a frame; digits index arrays."""
    if not isinstance(text, str) or not text or any(not part for part in text.split(".")):
        raise ValueError(f"{where}: path {text!r} must be dotted names like \"data.id\"")
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def _lookup(frame: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in ``frame``, or :data:`_MISSING`."""
    node = frame
    for part in path:
        if type(part) is int:
            if type(node) is not list or part >= len(node):
                return _MISSING
            node = node[part]
        elif type(node) is dict and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _hashable(value: Any) -> Any:
    """A command id as a dict key: a string or number as it is, anything else ``None``."""
    return value if type(value) in (str, int, float) else None


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    return type(value) is type(expected) and value == expected or (
        type(value) in (int, float) and type(expected) in (int, float) and value == expected)


@dataclass(frozen=True)
class _Rule:
    """A match rule: every path must hold its value (:data:`ANY`: must exist)."""

    name: str
    conditions: tuple[tuple[tuple[str | int, ...], Any], ...]

    def matches(self, frame: Any) -> bool:
        for path, expected in self.conditions:
            value = _lookup(frame, path)
            if value is _MISSING or expected != ANY and not _same(value, expected):
                return False
        return True

    def implied_by(self, other: _Rule) -> bool:
        """Every frame ``other`` matches, this rule matches too."""
        return all(condition in other.conditions or condition[1] == ANY
                   and any(path == condition[0] for path, _ in other.conditions)
                   for condition in self.conditions)


def _rule(name: str, table: Any) -> _Rule:
    where = f"[protocol] {name}"
    if not isinstance(table, Mapping) or not table:
        raise ValueError(f"{where} must be a table of path = value, e.g. "
                         f'{name} = {{type = "{name}"}}; an empty rule would match every frame')
    conditions: list[tuple[tuple[str | int, ...], Any]] = []
    for key, value in table.items():
        if isinstance(value, float) and not math.isfinite(value) or not isinstance(
                value, str | int | float | bool):
            raise ValueError(f"{where}: {key} = {value!r} can never match a frame; a rule "
                             'value is a string, number, boolean, or "*" for any value')
        conditions.append((_path(key, where), value))
    _never_matches(where, conditions)
    return _Rule(name, tuple(conditions))


def _never_matches(where: str, conditions: list[tuple[tuple[str | int, ...], Any]]) -> None:
    """Raise when two conditions cannot both hold: a path that is both a value and a parent."""
    for path, value in conditions:
        for other, _ in conditions:
            if len(other) > len(path) and other[:len(path)] == path and value != ANY:
                raise ValueError(
                    f"{where} can never match a frame: {'.'.join(map(str, path))} must be "
                    f"{value!r} and also hold {'.'.join(map(str, other))}; drop one")


def _fields(name: str, table: Any, allowed: tuple[str, ...]) -> dict[str, tuple[str | int, ...]]:
    where = f"[protocol] {name}"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table, e.g. {name} = {{{allowed[0]} = \"...\"}}")
    _reject_unknown(table, allowed, where)
    return {key: _path(value, f"{where} {key}") for key, value in table.items()}


def _reject_unknown(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Raise for the first key of ``table`` that is not ``allowed``, naming those that are."""
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key '{key}' in {where} (allowed: {', '.join(allowed)})")


def _seconds(value: Any) -> float | None:
    """A send timestamp as float seconds: a JSON number or a number's text."""
    if type(value) is str:
        try:
            value = float(value)
        except ValueError:
            return None
    return seconds(value)


@dataclass(frozen=True)
class _Step:
    """A handshake step: a frame sent after connecting, and what confirms it (if anything).

    ``reply`` is a rule; ``by_id``: the reply carrying the step's ``{cmd}`` at ``reply_id``
    confirms it. With neither, the step is sent and the next follows at once.
    """

    send: Any
    reply: _Rule | None
    by_id: bool

    @property
    def waits(self) -> bool:
        return self.reply is not None or self.by_id


@dataclass(frozen=True)
class _Answer:
    """A frame the member answers by itself: ``match`` (a rule) or ``equals`` (the whole
    frame), and ``reply`` (a template; ``None``: the frame is only recognised)."""

    match: _Rule | None
    equals: Any
    reply: Any

    def matches(self, frame: Any) -> bool:
        if self.match is not None:
            return self.match.matches(frame)
        return type(frame) is type(self.equals) and frame == self.equals


def _template(name: str, value: Any, allowed: tuple[str, ...]) -> Any:
    if not isinstance(value, Mapping | list):
        raise ValueError(f"[protocol] {name} must be a table (the JSON object sent), "
                         f'e.g. {{type = "hello", user = "{{member}}"}}')
    return _compile(value, f"[protocol] {name}", allowed)


def _steps(value: Any, reply_id: tuple[str | int, ...] | None) -> tuple[_Step, ...]:
    where = "[protocol] handshake"
    if not isinstance(value, list) or not value:
        raise ValueError(f'{where} must be an array of steps, e.g. handshake = [{{send = '
                         f'{{connect = {{}}, id = "{{cmd}}"}}}}]')
    steps = []
    for index, step in enumerate(value):
        here = f"handshake[{index}]"
        if not isinstance(step, Mapping) or "send" not in step:
            raise ValueError(f"[protocol] {here} must be a table with send (the frame) and "
                             "reply (the rule that confirms it, if any)")
        for key in step:
            if key not in ("send", "reply"):
                raise ValueError(f"unknown key '{key}' in [protocol] {here} (allowed: send, "
                                 "reply)")
        send = _template(f"{here}.send", step["send"], STEP_PLACEHOLDERS)
        reply = _rule(f"{here}.reply", step["reply"]) if "reply" in step else None
        steps.append(_Step(send, reply, reply is None and reply_id is not None
                           and _uses(send, "cmd")))
    return tuple(steps)


def _answers(value: Any) -> tuple[_Answer, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("[protocol] answers must be an array of tables, e.g. answers = "
                         "[{equals = {}, reply = {}}] (answer a {} ping with {})")
    answers = []
    for index, answer in enumerate(value):
        here = f"answers[{index}]"
        if not isinstance(answer, Mapping):
            raise ValueError(f"[protocol] {here} must be a table with match or equals, "
                             "and reply")
        for key in answer:
            if key not in ("match", "equals", "reply"):
                raise ValueError(f"unknown key '{key}' in [protocol] {here} (allowed: match, "
                                 "equals, reply)")
        if ("match" in answer) == ("equals" in answer):
            raise ValueError(f"[protocol] {here} needs one of match (a rule) or equals (the "
                             "whole frame, e.g. equals = {})")
        match = _rule(f"{here}.match", answer["match"]) if "match" in answer else None
        equals = _compile(answer["equals"], f"[protocol] {here}.equals", ()) \
            if "equals" in answer else None
        reply = _template(f"{here}.reply", answer["reply"], ANSWER_PLACEHOLDERS) \
            if "reply" in answer else None
        answers.append(_Answer(match, equals, reply))
    return tuple(answers)


class JsonFrames(ClientProtocol):
    """A JSON protocol built from a ``[protocol]`` description; one instance per member.

    Its state is the member's: its name and room, the next ``{cmd}``, the commands
    waiting for their replies (with ``reply_id``), and how far the connection's
    handshake is.
    """

    name: ClassVar[str] = "json"

    def __init__(self, templates: Mapping[str, Any], rules: Mapping[str, _Rule],
                 message_fields: Mapping[str, tuple[str | int, ...]],
                 error_fields: Mapping[str, tuple[str | int, ...]],
                 handshake: tuple[_Step, ...] = (), answers: tuple[_Answer, ...] = (),
                 separator: str | None = None,
                 reply_id: tuple[str | int, ...] | None = None,
                 push_fields: Mapping[str, tuple[str | int, ...]] | None = None) -> None:
        self._templates = dict(templates)
        self._push = dict(push_fields or {})
        self.broadcasts = "broadcast" in templates
        self._rules = [rules[name] for name in RULES if name in rules]
        self._error_rule = rules.get("error")
        self._message = dict(message_fields)
        self._error = dict(error_fields)
        self._handshake = handshake
        self._answers = answers
        self._separator = separator
        self._reply_id = reply_id
        #: The commands whose reply is matched by id, by template name.
        self._by_id = {name for name in COMMANDS if reply_id is not None
                       and name in templates and _uses(templates[name], "cmd")}
        self.joins_by_connect = "join" not in templates
        self.awaits_open = any(step.waits for step in handshake)
        self.confirms_join = "joined" in rules or "join" in self._by_id
        self.confirms_broadcast = "broadcasted" in rules or "broadcast" in self._by_id
        self.confirms_leave = "left" in rules or "leave" in self._by_id
        self._room = self._member = ""
        self._next_cmd = 1
        self._waiting: dict[Any, str] = {}  # command id -> template name
        self._step = len(handshake)  # the handshake step awaiting its reply

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> JsonFrames:
        for key in description:
            if key not in KEYS:
                raise ValueError(f"unknown key '{key}' in [protocol] (kind = \"json\" takes: "
                                 f"{', '.join(KEYS)})")
        # A server-push room's members may only listen: a push rule stands in for both.
        required = ("broadcast", "message") if "push" not in description else ()
        for name in required:
            if name not in description:
                raise ValueError(f"[protocol] (kind = \"json\") needs {name}; see "
                                 "docs/protocols.md")
        if ("push_fields" in description or "push_ack" in description) \
                and "push" not in description:
            raise ValueError("[protocol] has push_fields or push_ack but no push rule; add "
                             'push (the rule a server push matches, e.g. push = {type = '
                             '"tick"})')
        if ("broadcast" in description) != ("message" in description):
            raise ValueError("[protocol] needs broadcast and message together (members that "
                             "broadcast must recognise each other's messages), or neither "
                             "with a push rule (listen-only members)")
        templates: dict[str, Any] = {}
        for name, allowed in PLACEHOLDERS.items():
            if name not in description:
                continue
            template = description[name]
            if name == "url":
                if not isinstance(template, str):
                    raise ValueError('[protocol] url must be a string such as '
                                     '"/chat?room={room}&user={member}"')
                _placeholders(template, "[protocol] url", allowed)
                parts = urlsplit(template)
                if parts.scheme not in ("", "ws", "wss") or not parts.path.startswith("/"):
                    raise ValueError(f"[protocol] url {template!r} must be a path such as "
                                     '"/chat?room={room}" (or a ws:// URL, whose path is used)')
                templates[name] = urlunsplit(("", "", parts.path, parts.query, ""))
            elif not isinstance(template, Mapping | list):
                raise ValueError(f"[protocol] {name} must be a table (the JSON object sent), "
                                 f'e.g. {name} = {{type = "{name}", room = "{{room}}"}}')
            else:
                templates[name] = _compile(template, f"[protocol] {name}", allowed)
        if "leave" in templates and "join" not in templates:
            raise ValueError("[protocol] has leave but no join: a member that joins by "
                             "connecting leaves by closing; add join or drop leave")
        rules = {name: _rule(name, description[name]) for name in RULES if name in description}
        ordered = [rules[name] for name in RULES if name in rules]
        for index, later in enumerate(ordered):
            for earlier in ordered[:index]:
                if earlier.implied_by(later):
                    raise ValueError(
                        f"[protocol] {later.name} can never match a frame: every frame it "
                        f"matches, {earlier.name} matches first; add a field that tells them "
                        "apart")
        message_fields = _fields("message_fields", description.get("message_fields", {}),
                                 MESSAGE_FIELDS)
        if "message" in description and "id" not in message_fields \
                and "sent_at" not in message_fields:
            raise ValueError("[protocol] message_fields needs id (the {id} the sender put in) "
                             "or sent_at, or delivery time cannot be measured")
        error_fields = _fields("error_fields", description.get("error_fields", {}),
                               ERROR_FIELDS)
        reply_id = None
        if "reply_id" in description:
            reply_id = _path(description["reply_id"], "[protocol] reply_id")
        handshake = _steps(description["handshake"], reply_id) \
            if "handshake" in description else ()
        if reply_id is not None and not any(
                _uses(templates.get(name), "cmd") for name in COMMANDS) and not any(
                _uses(step.send, "cmd") for step in handshake):
            raise ValueError("[protocol] reply_id is set but no join, leave, broadcast or "
                             "handshake send names {cmd}; put \"{cmd}\" where the command id "
                             "goes, or drop reply_id")
        answers = _answers(description["answers"]) if "answers" in description else ()
        separator = description.get("separator")
        if separator is not None and (not isinstance(separator, str) or not separator):
            raise ValueError('[protocol] separator must be a non-empty string, e.g. "\\n" '
                             "for newline-separated messages in one frame")
        push_fields = _fields("push_fields", description.get("push_fields", {}), PUSH_FIELDS)
        return cls(templates, rules, message_fields, error_fields, handshake, answers,
                   separator, reply_id, push_fields)

    # Frames out.

    def connect_url(self, url: str, room: str, member: str) -> str:
        self._room, self._member = room, member
        template = self._templates.get("url")
        if template is None:
            return url
        target = urlsplit(url)
        filled = urlsplit(template.format(room=quote(room, safe=""),
                                          member=quote(member, safe="")))
        return urlunsplit((target.scheme, target.netloc, filled.path, filled.query, ""))

    def opened(self, room: str, member: str) -> list[str]:
        """Start the handshake: its steps up to the first that waits for a reply."""
        self._room, self._member = room, member
        self._next_cmd = 1
        self._waiting.clear()
        self._step = 0
        return self._run_handshake()

    def closed(self) -> None:
        self._waiting.clear()
        self._step = len(self._handshake)

    def _run_handshake(self) -> list[str]:
        """Send steps from the current one until one waits (or none is left)."""
        frames = []
        while self._step < len(self._handshake):
            step = self._handshake[self._step]
            frames.append(self._render(step.send, f"handshake[{self._step}]"))
            if step.waits:
                break
            self._step += 1
        return frames

    def _render(self, template: Any, name: str, **values: Any) -> str:
        values.setdefault("room", self._room)
        values["member"] = self._member
        if _uses(template, "cmd"):
            values["cmd"] = self._next_cmd
            if self._reply_id is not None:  # else no reply is looked for: remember nothing
                self._waiting[self._next_cmd] = name
            self._next_cmd += 1
        return _encode(_render(template, values))

    def _frame(self, name: str, **values: Any) -> str | None:
        template = self._templates.get(name)
        return None if template is None else self._render(template, name, **values)

    def join_frame(self, room: str, member: str) -> str | None:
        self._room, self._member = room, member
        return self._frame("join", room=room)

    def leave_frame(self, room: str) -> str | None:
        return self._frame("leave", room=room)

    def broadcast_frame(self, room: str, message_id: MessageId, body: Any,
                        sent_at: float) -> str:
        frame = self._frame("broadcast", room=room, id=message_id, sent_at=sent_at, body=body)
        if frame is None:  # listen-only: the scenario refuses broadcasts (``broadcasts``)
            raise ValueError("[protocol] has no broadcast template: its members only listen")
        return frame

    def ack_frame(self, message: Delivered) -> str | None:
        return self._frame("ack", room=message.room or self._room, id=message.id)

    # Frames in.

    def classify(self, raw: str | bytes) -> Event | list[Event]:
        if self._separator is None:
            return self._classify(raw)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        parts = [part for part in text.split(self._separator) if part.strip()]
        if len(parts) == 1:
            return self._classify(parts[0])
        events: list[Event] = []
        for part in parts:
            event = self._classify(part)
            if isinstance(event, list):
                events.extend(event)
            else:
                events.append(event)
        return events

    def _classify(self, raw: str | bytes) -> Event | list[Event]:
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return base.Unparseable(f"not JSON: {type(exc).__name__}: {exc}", raw)
        for answer in self._answers:
            if answer.matches(frame):
                reply = None if answer.reply is None else _encode(_render(
                    answer.reply, {"room": self._room, "member": self._member}))
                return base.Answer(reply, "an answer of [protocol] answers", frame)
        if self._step < len(self._handshake):
            return self._handshake_reply(frame, raw)
        if self._waiting and self._reply_id is not None:
            command = self._waiting.pop(_hashable(_lookup(frame, self._reply_id)), None)
            if command is not None:
                if self._error_rule is not None and self._error_rule.matches(frame):
                    return self._event("error", frame, raw)
                if command in self._by_id:
                    return self._event(_CONFIRMS[command], frame, raw)
        for rule in self._rules:
            if rule.matches(frame):
                return self._event(rule.name, frame, raw)
        return base.Other("matches no rule of [protocol]", frame)

    def _handshake_reply(self, frame: Any, raw: str | bytes) -> Event | list[Event]:
        """A frame while the handshake waits: its step's reply, an error, or something else."""
        step = self._handshake[self._step]
        if self._error_rule is not None and self._error_rule.matches(frame):
            return self._event("error", frame, raw)
        if step.by_id:
            confirmed = self._reply_id is not None and self._waiting.pop(
                _hashable(_lookup(frame, self._reply_id)), None) is not None
        else:
            confirmed = step.reply is not None and step.reply.matches(frame)
        if not confirmed:
            return base.Other(f"handshake step {self._step} waits for its reply", frame)
        self._step += 1
        events: list[Event] = [base.Answer(sent, f"handshake step {self._step}", frame)
                               for sent in self._run_handshake()]
        if self._step >= len(self._handshake):
            events.append(base.Opened(frame))
        return events

    def _event(self, name: str, frame: Any, raw: str | bytes) -> Event | list[Event]:
        if name == "message":
            return self._delivered(frame, raw)
        if name == "push":
            return self._pushed(frame)
        if name == "joined":
            return base.Joined(None, None, None, frame)
        if name == "left":
            return base.Left(None, frame)
        if name == "broadcasted":
            return base.Broadcasted(None, None, None, frame)
        code, detail = (_lookup(frame, self._error[key]) if key in self._error else None
                        for key in ERROR_FIELDS)
        return base.ErrorReply(None if code is None or code is _MISSING else str(code),
                               None if detail is None or detail is _MISSING else str(detail),
                               frame)

    def _delivered(self, frame: Any, raw: str | bytes) -> Event:
        parts = {key: _lookup(frame, path) for key, path in self._message.items()}
        message_id = parts.get("id", "")
        if type(message_id) is not str and type(message_id) is not int:
            where = ".".join(map(str, self._message["id"]))
            shown = None if message_id is _MISSING else message_id
            return base.Unparseable(f"message without a string or integer id at {where}: "
                                    f"{shown!r}", raw)
        sender, room = parts.get("sender"), parts.get("room")
        body = parts.get("body")
        return Delivered(sender=sender if type(sender) is str else None,
                         room=room if type(room) is str else None,
                         id=message_id, sent_at=_seconds(parts.get("sent_at")), seq=None,
                         body=None if body is _MISSING else body, frame=frame)

    def _pushed(self, frame: Any) -> Event | list[Event]:
        parts = {key: _lookup(frame, path) for key, path in self._push.items()}
        push_id, room, body = parts.get("id"), parts.get("room"), parts.get("body")
        pushed = base.Pushed(room=room if type(room) is str else None,
                             id=push_id if type(push_id) in (str, int) else None,
                             sent_at=_seconds(parts.get("sent_at")),
                             body=None if body is _MISSING else body, frame=frame)
        ack = self._frame("push_ack", room=pushed.room or self._room,
                          id="" if pushed.id is None else pushed.id)
        if ack is None:
            return pushed
        return [base.Answer(ack, "[protocol] push_ack", frame), pushed]
