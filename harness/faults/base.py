"""The interface every fault kind implements, and helpers they share.

A fault kind is one module that exposes a :class:`FaultKind`. It says:

* **what** it applies: a Toxiproxy toxic of type :attr:`FaultKind.toxic_type`, built by
  :meth:`Fault.toxic` from a parsed fault;
* **where**: :attr:`FaultKind.where`, :data:`PROXY` for a toxic on each slow member's own proxy,
  or :data:`MEMBER` for a fault the slow member itself acts out in the load generator (the
  ``stall``: it stops reading its socket). For a member fault, :meth:`Fault.toxic` describes
  the settings the member acts out in the same form (type = the kind's name); it never goes to
  Toxiproxy. The run and the Chaos tab send member faults to the load generator as commands
  (:mod:`harness.faults.member_commands`);
* **how to lift it**: a proxy fault is lifted by removing its toxic by name (Toxiproxy then
  flushes what the toxic held back); the Chaos tab's Clear removes every toxic of the kind's
  :attr:`~FaultKind.toxic_type`. A member fault is lifted by a command that switches it off;
* **how the UI edits it**: :attr:`FaultKind.params` lists the editable numbers (name, label,
  unit, bounds, default) as :class:`Param`; :meth:`FaultKind.edit` turns edited values into a
  fault, and :meth:`FaultKind.values_of` reads them back from a toxic on a proxy. A param's name
  is the toxic attribute it sets, in Toxiproxy's own unit.

A scenario's ``[[faults]]`` table is read by :attr:`FaultKind.parse` (with the scenario's units,
e.g. ``"500ms"``); the UI's values by :meth:`FaultKind.edit` (plain whole numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from harness.durations import parse_duration
from harness.measure.measurements import Sample

DOWNSTREAM = "downstream"
"""Toxiproxy stream from the server to the member: slows what the server sends that member."""

UPSTREAM = "upstream"
"""Toxiproxy stream from the member to the server."""

STREAMS: tuple[str, ...] = (DOWNSTREAM, UPSTREAM)

COMMON_KEYS: tuple[str, ...] = ("kind", "stream")
"""Keys every ``[[faults]]`` table may have, whatever its kind."""

PROXY = "proxy"
"""Where a fault goes: a toxic on each slow member's own Toxiproxy proxy."""

MEMBER = "member"
"""Where a fault goes: the slow member itself (e.g. it stops reading)."""


@dataclass(frozen=True)
class ToxicSpec:
    """A Toxiproxy toxic, ready to be created on a proxy.

    Attributes:
        type: Toxiproxy toxic type (``"latency"``, ``"bandwidth"``, ...).
        stream: ``"downstream"`` (server -> member) or ``"upstream"`` (member -> server).
        attributes: The toxic's attributes exactly as Toxiproxy's API expects them.
    """

    type: str
    stream: str = DOWNSTREAM
    attributes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The toxic as a JSON-ready dict (``type``, ``stream``, ``attributes``)."""
        return {"type": self.type, "stream": self.stream, "attributes": dict(self.attributes)}


class Fault(Protocol):
    """A parsed, validated fault from one ``[[faults]]`` table or from the UI's controls."""

    @property
    def kind(self) -> str:
        """The fault kind's name, e.g. ``"latency"``."""
        ...

    def toxic(self) -> ToxicSpec:
        """The Toxiproxy toxic that injects this fault (for a member fault: its settings in the
        same form, never sent to Toxiproxy)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The fault's settings as a JSON-ready dict, including ``kind`` and ``stream``."""
        ...


class OneToxic:
    """What every fault that is one toxic shares: its kind's name, the toxic built from it and
    its JSON form.

    A fault dataclass sets :attr:`NAME`, :attr:`ATTRIBUTES` (and :attr:`WHERE` for a member
    fault) and a ``stream`` field; ``kind``, ``attributes()``, ``toxic()`` and ``to_dict()``
    come from here.
    """

    NAME: ClassVar[str]
    #: Each toxic attribute (in Toxiproxy's unit) and the field that holds it, in order.
    ATTRIBUTES: ClassVar[Mapping[str, str]] = {}
    #: :data:`PROXY` or :data:`MEMBER`, as the kind's :attr:`FaultKind.where`.
    WHERE: ClassVar[str] = PROXY
    stream: str

    @property
    def kind(self) -> str:
        """The fault kind's name (also the toxic's type)."""
        return self.NAME

    def attributes(self) -> dict[str, int]:
        """The toxic's attributes, in Toxiproxy's units."""
        return {attribute: getattr(self, name) for attribute, name in self.ATTRIBUTES.items()}

    def to_dict(self) -> dict[str, Any]:
        """``kind``, then ``stream`` (a proxy fault) or ``where`` (a member fault, which has
        no stream), then each field of :attr:`ATTRIBUTES`."""
        place = {"stream": self.stream} if self.WHERE == PROXY else {"where": self.WHERE}
        return {"kind": self.NAME, **place,
                **{name: getattr(self, name) for name in self.ATTRIBUTES.values()}}

    def toxic(self) -> ToxicSpec:
        """Toxic of type :attr:`NAME` on :attr:`stream` with :meth:`attributes`."""
        return ToxicSpec(type=self.NAME, stream=self.stream, attributes=self.attributes())


class MemberActor(Protocol):
    """What a slow member offers a member fault to act itself out with
    (:class:`harness.loadgen.user.RoomUser`). A member calls its in-force faults'
    :attr:`FaultKind.act` at its fault points: in its room, between operations, no reply
    awaited. A failed operation raises the member's own (already reported) failure."""

    def in_force(self, kind: str) -> bool:
        """Whether fault ``kind`` is still in force for this member."""
        ...

    def wait_lifted(self, kind: str, timeout_s: float) -> bool:
        """Wait until ``kind`` is lifted for this member (True) or ``timeout_s`` passed."""
        ...

    def stop_reading_until_lifted(self, kind: str) -> None:
        """Stop reading the socket (no reads, no pongs, no acks) until ``kind`` is lifted,
        watching the socket meanwhile; return once the backlog is read or the connection
        ended."""
        ...

    def drop_connection(self) -> None:
        """End the connection abruptly: no leave, no close frame, a TCP reset."""
        ...

    def rejoin(self) -> None:
        """Connect again and join the member's room again (reported like any join)."""
        ...

    def fault_state(self, kind: str) -> dict[str, float]:
        """Mutable state this member keeps for fault ``kind`` between fault points."""
        ...

    def report_fault(self, entry: dict[str, Any]) -> None:
        """Send one entry about acting a fault out to the run's member-fault reports."""
        ...


class MemberEvidence(Protocol):
    """One member fault kind's evidence, kept as it comes in (:attr:`FaultKind.evidence`).

    The run's readers (:class:`harness.runfolder.live.RunFolderReaders`) add the members' new
    reports (``member_faults.jsonl``, every kind's) and the run's new samples as they read
    them, each once; :meth:`check` judges what was added so far. So a live run judging on every
    tick pays for what is new, and a folder judged again adds all of it at once: both judge
    alike.
    """

    def add(self, reports: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
        """Add report entries and samples not added before."""
        ...

    def check(self, *, fault_started: float | None, lifted_at: float | None,
              slow_members: int) -> FaultCheck:
        """Judge what was added so far.

        Args:
            fault_started: When the faults went on (Unix seconds); None: never.
            lifted_at: When they were lifted while measured; None: still on, or on until the
                end.
            slow_members: How many slow members were asked to act the faults out.
        """
        ...


class FaultCheck(Protocol):
    """A member fault's own check of a run: did it take effect, did it clear."""

    errors: list[str]
    """Lines that make the verdict ERROR: the fault never took effect (never a PASS)."""

    @property
    def cleared(self) -> bool | None:
        """Whether what the fault did is over once lifted (a recovery may end then); None:
        not known yet."""
        ...

    def summary(self) -> str:
        """One line (or a few) for the console."""
        ...

    def to_dict(self, origin: float) -> dict[str, Any]:
        """The check as JSON for ``result.json`` ``extra.<kind>``, times relative to
        ``origin`` (the run's start)."""
        ...


@dataclass(frozen=True)
class Param:
    """One number of a fault that a UI can edit: a whole number in Toxiproxy's unit.

    Attributes:
        name: The toxic attribute it sets (``"latency"``, ``"rate"``, ...), also the key of the
            value in the UI's requests.
        label: Short text for the control.
        unit: Unit shown next to the control (``"ms"``, ``"KB/s"``, ``"bytes"``, ``"µs"``).
        default: Value the control starts with.
        minimum: Smallest value accepted.
        maximum: Largest value accepted.
    """

    name: str
    label: str
    unit: str
    default: int
    minimum: int
    maximum: int

    def read(self, value: Any) -> int:
        """``value`` (a number or its text, as a form sends it) as a whole number in bounds.

        Raises:
            ValueError: one line naming the param, its unit and bounds.
        """
        wanted = f"{self.name} must be a whole number of {self.unit} from {self.minimum} to " \
                 f"{self.maximum}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(wanted)
        try:
            number = float(value)
        except ValueError:
            raise ValueError(wanted) from None
        if not self.minimum <= number <= self.maximum or number != int(number):  # NaN too
            raise ValueError(wanted)
        return int(number)

    def to_dict(self) -> dict[str, Any]:
        """The param as JSON for a UI."""
        return {"name": self.name, "label": self.label, "unit": self.unit,
                "default": self.default, "min": self.minimum, "max": self.maximum}


@dataclass(frozen=True)
class FaultKind:
    """One registered fault kind.

    Attributes:
        name: Value of ``kind`` in the scenario that selects this fault kind.
        keys: Keys the kind accepts in a ``[[faults]]`` table besides :data:`COMMON_KEYS`.
        parse: Validates a whole ``[[faults]]`` table (unknown keys are already rejected) and
            returns the fault; raises ValueError with a one-line message naming the bad key,
            what is wrong and how to fix it.
        summary: One line describing the fault, for documentation and the UI.
        toxic_type: The Toxiproxy toxic type the fault applies.
        params: The values a UI edits, each a toxic attribute in Toxiproxy's unit.
        build: Makes the fault from checked param values (by name) and a stream; raises
            ValueError (one line) when the values do not fit together.
        where: :data:`PROXY` or :data:`MEMBER`.
        describe: Short text of the toxic's attributes (``"latency 500 ms ± 50 ms"``); by
            default the kind's name followed by each param's value and unit.
        act: For a member fault: what the member does at each fault point while the fault is
            in force for it, given the fault's settings (its toxic attributes).
        evidence: For a member fault: makes an empty keeper of what the members reported
            (:class:`MemberEvidence`), whose ``check`` judges it into a :class:`FaultCheck`:
            whether it took effect (else the verdict is ERROR, never PASS), whether it cleared
            once lifted, and what ``result.json`` keeps of it (``extra.<name>``).
    """

    name: str
    keys: tuple[str, ...]
    parse: Callable[[Mapping[str, Any]], Fault]
    summary: str
    toxic_type: str
    params: tuple[Param, ...]
    build: Callable[[Mapping[str, int], str], Fault]
    where: str = PROXY
    describe: Callable[[Mapping[str, Any]], str] | None = None
    act: Callable[[MemberActor, Mapping[str, int]], None] | None = None
    evidence: Callable[[], MemberEvidence] | None = None

    def edit(self, values: Mapping[str, Any], stream: str = DOWNSTREAM) -> Fault:
        """The fault a UI asks for: every param checked against its bounds, then built.

        A missing param takes its default; an unknown one is refused.

        Raises:
            ValueError: one line saying which value is wrong.
        """
        known = {param.name for param in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{self.name} has no parameter {unknown[0]!r}; "
                             f"it takes {', '.join(sorted(known)) or 'none'}")
        if stream not in STREAMS:
            raise ValueError(f'stream must be "downstream" or "upstream", got {stream!r}')
        checked = {param.name: param.read(values.get(param.name, param.default))
                   for param in self.params}
        return self.build(checked, stream)

    def values_of(self, attributes: Mapping[str, Any]) -> dict[str, int]:
        """The param values of a toxic of this kind (as Toxiproxy lists it): the way back."""
        values = {}
        for param in self.params:
            value = attributes.get(param.name, param.default)
            values[param.name] = int(value) if isinstance(value, int | float) else param.default
        return values

    def text(self, attributes: Mapping[str, Any]) -> str:
        """The toxic's attributes as short text, e.g. ``"bandwidth 64 KB/s"``."""
        if self.describe is not None:
            return self.describe(attributes)
        values = self.values_of(attributes)
        return " ".join([self.name, *(f"{param.name} {values[param.name]} {param.unit}"
                                      for param in self.params)])

    def to_dict(self, defaults: Mapping[str, int] | None = None) -> dict[str, Any]:
        """The kind as JSON for a UI; ``defaults`` (by param name) override the params' own
        where they are within the param's bounds (a scenario's ``latency = "0ms"`` is not)."""
        params = []
        for param in self.params:
            default = (defaults or {}).get(param.name, param.default)
            if not param.minimum <= default <= param.maximum:
                default = param.default
            params.append(dict(param.to_dict(), default=default))
        return {"kind": self.name, "summary": self.summary, "toxic_type": self.toxic_type,
                "where": self.where, "params": params}


def read_stream(table: Mapping[str, Any]) -> str:
    """The ``stream`` of a fault table, ``"downstream"`` when absent.

    Raises:
        ValueError: ``stream`` is not ``"downstream"`` or ``"upstream"``.
    """
    stream = table.get("stream", DOWNSTREAM)
    if stream not in STREAMS:
        raise ValueError(
            f'stream must be "downstream" (server -> member) or "upstream" '
            f"(member -> server), got {stream!r}"
        )
    return str(stream)


def read_whole_duration(table: Mapping[str, Any], key: str, default: str | None,
                        unit: str = "ms") -> int:
    """The duration under ``key`` as a whole number of ``unit`` (``"ms"`` or ``"us"``).

    Args:
        table: The ``[[faults]]`` table.
        key: Key to read.
        default: Duration text used when ``key`` is absent; None makes the key required.
        unit: The unit Toxiproxy takes for this attribute.

    Raises:
        ValueError: the key is missing, is not a duration, or is not a whole number of ``unit``.
    """
    per_second = {"ms": 1000, "us": 1_000_000}[unit]
    if key not in table:
        if default is None:
            raise ValueError(f'missing required key {key!r}; add e.g. {key} = "500ms"')
        raw: Any = default
    else:
        raw = table[key]
    try:
        seconds = parse_duration(raw)
    except ValueError as problem:
        raise ValueError(f"{key}: {problem}") from None
    amount = seconds * per_second
    if abs(amount - round(amount)) > 1e-6:
        words = {"ms": "milliseconds", "us": "microseconds"}[unit]
        raise ValueError(
            f"{key} must be a whole number of {words} (Toxiproxy works in {unit}), got {raw!r}"
        )
    return round(amount)


def read_whole_milliseconds(table: Mapping[str, Any], key: str, default: str | None) -> int:
    """The duration under ``key`` as a whole number of milliseconds (Toxiproxy's unit).

    Raises:
        ValueError: the key is missing, is not a duration, or is not whole milliseconds.
    """
    return read_whole_duration(table, key, default, "ms")
