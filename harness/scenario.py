"""Scenario files: load and validate a TOML scenario into a frozen :class:`Scenario`.

Every problem with a file raises :class:`ScenarioError`, whose message is ONE line prefixed by
the file name, saying what is wrong and how to fix it. ``scenarios/README.md`` documents every
key and its default; the defaults here match ``scenarios/slow-member.toml``.

Run ``python -m harness.scenario FILE...`` to validate files from the command line.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import stat
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.durations import format_duration, parse_duration
from harness.faults import COMMON_KEYS, FAULT_KINDS, MEMBER, Fault, FaultKind, member_kinds
from harness.net.tls import check_origin
from harness.net.urls import parse_metrics_url
from harness.protocols import PROTOCOLS, build_protocol, check_protocol
from harness.push import PushSettings
from harness.target import BUNDLED_SERVERS, MODES, BundledServer, check_label
from harness.thresholds import Check, parse_check
from harness.thresholds.latency import LatencyMetric

TOP_LEVEL_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "target",
    "protocol",
    "push",
    "load",
    "timing",
    "faults",
    "thresholds",
    "expect",
    "network",
)
TARGET_KEYS: tuple[str, ...] = (
    "server",
    "send_timeout",
    "lock_wait_threshold",
    "lock_hold_threshold",
    "lock_suspend_threshold",
    "delivery",
    "metrics_url",
    "cmd",
    "url",
    "ready",
    "ready_timeout",
    "lock_reports",
    "ca_file",
    "insecure",
    "origin",
    "label",
)
TARGET_TEXT_KEYS: tuple[str, ...] = ("cmd", "url", "ready", "lock_reports", "ca_file")
"""``[target]`` keys naming the user's own server (checked with the flags they stand for,
by :mod:`harness.rig.target_options`, before anything starts)."""
#: The longest ``[load] op_timeout``: an operation waits at most this long for its reply.
MAX_OP_TIMEOUT_S = 600.0
LOAD_KEYS: tuple[str, ...] = (
    "rooms",
    "members",
    "slow_members",
    "spawn_rate",
    "broadcast_interval",
    "stay",
    "away",
    "body_size",
    "op_timeout",
)
TIMING_KEYS: tuple[str, ...] = ("warmup", "fault", "cooldown", "evidence_window")
THRESHOLD_KEYS: tuple[str, ...] = ("min_samples", "checks", "abort_on_fail", "max_generator_lag")

DEFAULT_CHECKS: tuple[str, ...] = (
    "join[fast].p99 < 250ms",
    "deliver[fast].p99 < 250ms",
    "deliver[fast].lost < 0.01",
    "lock_reports == 0",
    "errors.ratio < 0.01",
)
"""Checks used when ``[thresholds]`` has no ``checks`` key."""

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

MAX_SCENARIO_BYTES = 1024 * 1024
"""A scenario is a few kilobytes; anything over this is refused before it is parsed."""

MAX_MEMBERS = 10_000
"""Locust users in one run: far more than one generator process holds (docs/benchmarks.md)."""
MAX_SLOW_MEMBERS = 1_000
"""Each slow member gets a Toxiproxy proxy (a listening port) of its own."""
SPAWN_RATE_RANGE = (0.1, 10_000.0)
"""Users started per second: at least one every 10 s, at most MAX_MEMBERS in a second."""
MAX_MIN_SAMPLES = 1_000_000
"""A run of the reference scenario records a few thousand samples; a million is a long soak."""
MAX_TIMING_S = 24 * 3600.0
"""Each phase of a run (warm-up, fault, cool-down) lasts at most a day."""
MAX_SETTING_S = 3600.0
"""[target] and [load] durations (timeouts, intervals, stays) are at most an hour."""
MAX_BODY_SIZE = 60 * 1024
"""A broadcast frame must stay under the reference server's 64 KiB limit on client frames."""
MAX_SOCKET_BUFFER = 64 * 1024 * 1024
"""``[network] socket_buffer`` is meant to be small; the kernels' own maxima are a few MiB."""
FAST_MEMBER_PATHS: tuple[str, ...] = ("proxy", "direct")
"""``[network] fast_members``: through Toxiproxy's clean proxy (the default), or to the target."""
VERDICTS: tuple[str, ...] = ("PASS", "FAIL", "ERROR")
_SIZE_PATTERN = re.compile(r"^\s*(?P<number>\d+)\s*(?P<unit>B|KiB|MiB|KB|MB)\s*$", re.IGNORECASE)
# Sizes here are buffer and frame sizes, counted in powers of two: KiB and MiB. "KB" and "MB",
# which older scenario files use, are read as the same (1024 and 1024 * 1024 bytes).
_SIZE_UNITS = {"b": 1, "kib": 1024, "mib": 1024 * 1024, "kb": 1024, "mb": 1024 * 1024}


class ScenarioError(Exception):
    """A scenario file is unreadable or invalid.

    ``str(error)`` is one line: ``"<path>: <what is wrong>; <how to fix it>"``.

    Attributes:
        path: The scenario file as given to :func:`load_scenario`.
        problem: The message without the path prefix.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(problem.splitlines())
        super().__init__(f"{self.path}: {self.problem}")


@dataclass(frozen=True)
class TargetSettings:
    """``[target]``: the room server under test (durations in seconds).

    The first four and ``delivery`` are passed to the bundled reference server;
    ``metrics_url`` is where ``metric[...]`` checks scrape. The others name the user's
    own server, like the ``run``/``ui`` flags of the same names (a flag wins over its key):
    ``cmd`` (``--target-cmd``), ``url`` (``--target-url``), ``ready`` (``--target-ready``),
    ``ready_timeout_s`` (``--target-ready-timeout``), ``lock_reports``, ``ca_file`` and
    ``insecure``; None (False) when absent.
    """

    send_timeout_s: float = 10.0
    lock_wait_threshold_s: float = 0.1
    lock_hold_threshold_s: float = 0.25
    #: Report a lock held while its task is suspended on I/O this long; 0 is off.
    lock_suspend_threshold_s: float = 0.002
    #: How each send completes: ``ack`` (it waits for the member's ack) or ``write`` (the
    #: WebSocket library's own send, which waits only while the socket's buffers are full);
    #: for a bundled server that takes it (``BundledServer.deliveries``).
    delivery: str = "ack"
    #: Where ``metric[...]`` checks scrape Prometheus text; None: the target's ``/metrics``.
    metrics_url: str | None = None
    cmd: str | None = None
    url: str | None = None
    ready: str | None = None
    ready_timeout_s: float | None = None
    lock_reports: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    #: The bundled server a run starts (a name in harness.target.BUNDLED_SERVERS).
    server: str = "roomserver"
    #: The Origin header every connection sends (``--origin``); None: the target's own.
    origin: str | None = None
    #: What runs are called in progress lines, result.json, history and trend (``--label``);
    #: None: the mode (``external`` for a server of the user's own).
    label: str | None = None

    @property
    def bundled(self) -> BundledServer:
        """The bundled server: its module, modes and expected verdicts."""
        return BUNDLED_SERVERS[self.server]


@dataclass(frozen=True)
class ProtocolSettings:
    """``[protocol]``: the wire protocol the members speak (see harness.protocols).

    ``description`` is the table as written, ``kind`` included (the bundled server's
    protocol when the file names none); it was checked by building the protocol.
    """

    description: tuple[tuple[str, Any], ...] = (("kind", "roomchaos"),)

    @property
    def kind(self) -> str:
        return str(dict(self.description)["kind"])

    def to_json(self) -> str:
        """The description as JSON, as Locust's ``--protocol`` takes it."""
        return json.dumps(dict(self.description), separators=(",", ":"))


@dataclass(frozen=True)
class LoadSettings:
    """``[load]``: how many members, how they behave (durations in seconds).

    Attributes:
        rooms: Rooms the members are spread over.
        members: Locust users in total, fast and slow.
        slow_members: Members that reach the server through their own faulty proxy.
        spawn_rate: Users started per second.
        broadcast_interval_s: Each member broadcasts this often while in a room.
        stay_s: Time in a room before leaving.
        away_s: Time out of the room before rejoining.
        body_size: Bytes of fresh random text in each broadcast body; 0 sends ``hello``.
        op_timeout_s: How long an operation waits for its reply before it fails with
            ``timeout`` (shorter than a fault window, so that an operation a freeze holds
            ends inside the run; one still waiting at the end is ``unfinished``).
    """

    rooms: int = 1
    members: int = 12
    slow_members: int = 1
    spawn_rate: float = 12.0
    broadcast_interval_s: float = 0.2
    stay_s: float = 2.0
    away_s: float = 0.2
    body_size: int = 0
    op_timeout_s: float = 5.0

    @property
    def fast_members(self) -> int:
        """Members that connect directly, without a faulty proxy."""
        return self.members - self.slow_members


@dataclass(frozen=True)
class TimingSettings:
    """``[timing]``: phases of the run, in seconds: warm-up, fault active, cool-down.

    ``evidence_window_s``: after an early verdict, how long the run keeps collecting (the
    fault still on) so that its report shows the impact, not only the first breach.
    """

    warmup_s: float = 4.0
    fault_s: float = 12.0
    cooldown_s: float = 2.0
    evidence_window_s: float = 3.0

    @property
    def total_s(self) -> float:
        """Length of the whole run."""
        return self.warmup_s + self.fault_s + self.cooldown_s


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: the network the rig runs on.

    Attributes:
        socket_buffer: With a size in bytes, every run happens in a network namespace of its
            own whose TCP buffers (``tcp_wmem``, ``tcp_rmem``) are capped at it, where the
            machine allows (:mod:`harness.rig.netns`); 0 (the default) keeps the machine's.
        fast_members: How the fast members reach the target: ``proxy`` (the default), through
            one clean Toxiproxy proxy that no fault is ever put on, or ``direct``, to the
            target itself, so that Toxiproxy carries only the slow members' traffic.
    """

    socket_buffer: int = 0
    fast_members: str = "proxy"


@dataclass(frozen=True)
class ThresholdSettings:
    """``[thresholds]``: what must hold for a PASS.

    Attributes:
        min_samples: A checked metric with fewer samples makes the verdict ERROR.
        checks: Parsed checks, in file order.
        abort_on_fail: The checks (a subset of ``checks``) allowed to end the run early.
        max_generator_lag_s: When a check is broken while the load generator's own lag p99
            (see harness.measure.generator_lag) is above this, the verdict is ERROR, not FAIL.
    """

    min_samples: int = 20
    checks: tuple[Check, ...] = ()
    abort_on_fail: tuple[Check, ...] = ()
    max_generator_lag_s: float = 0.1


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Durations are float seconds.

    Attributes:
        name: Short identifier (letters, digits, ``.``, ``_``, ``-``), used in result names.
        description: One-line human description.
        target: Room-server settings.
        protocol: The members' wire protocol.
        load: Members and their behaviour.
        timing: Warm-up, fault and cool-down phases.
        faults: Faults applied to every slow member's proxy while the fault phase lasts.
        thresholds: Checks that decide the verdict.
        source_path: The file the scenario was loaded from.
        expect: ``[expect]``: the verdict each mode of the bundled server must give
            (``matrix`` checks them); empty: the server's own (:attr:`expectations`).
        network: ``[network]``: small socket buffers in a namespace of the run's own; the
            fast members' path to the target.
        push: ``[push]``: the server pushes by itself and how its pushes are timed
            (:mod:`harness.push`); None: members broadcast and time each other's messages.
    """

    name: str
    description: str
    target: TargetSettings
    load: LoadSettings
    timing: TimingSettings
    faults: tuple[Fault, ...]
    thresholds: ThresholdSettings
    source_path: Path
    protocol: ProtocolSettings = ProtocolSettings()
    expect: dict[str, str] = field(default_factory=dict)
    network: NetworkSettings = NetworkSettings()
    push: PushSettings | None = None

    @property
    def member_faults(self) -> tuple[Fault, ...]:
        """The faults the slow members act out themselves (e.g. a stall)."""
        return tuple(fault for fault in self.faults if FAULT_KINDS[fault.kind].where == MEMBER)

    @property
    def member_fault_kinds(self) -> tuple[FaultKind, ...]:
        """The kinds of :attr:`member_faults`, each once (:func:`harness.faults.member_kinds`,
        as :attr:`ResultRecord.member_fault_kinds
        <harness.runfolder.record.ResultRecord.member_fault_kinds>` gives them from the
        record)."""
        return member_kinds(fault.kind for fault in self.faults)

    @property
    def proxy_faults(self) -> tuple[Fault, ...]:
        """The faults that are toxics on the slow members' proxies."""
        return tuple(fault for fault in self.faults if FAULT_KINDS[fault.kind].where != MEMBER)

    @property
    def expectations(self) -> dict[str, str]:
        """The verdict each mode must give: ``[expect]``, else the bundled server's own."""
        return dict(self.expect or self.target.bundled.expected_verdicts)

    @property
    def total_duration(self) -> float:
        """Seconds from start of load to stop: warm-up + fault + cool-down."""
        return self.timing.total_s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description of the scenario for ``result.json`` (durations in seconds)."""
        return {
            "name": self.name,
            "description": self.description,
            "source_path": str(self.source_path),
            "target": {
                "send_timeout_s": self.target.send_timeout_s,
                "lock_wait_threshold_s": self.target.lock_wait_threshold_s,
                "lock_hold_threshold_s": self.target.lock_hold_threshold_s,
                "lock_suspend_threshold_s": self.target.lock_suspend_threshold_s,
                "delivery": self.target.delivery,
                **{key: value for key, value in (
                    ("metrics_url", self.target.metrics_url),
                    ("cmd", self.target.cmd), ("url", self.target.url),
                    ("ready", self.target.ready), ("ready_timeout_s", self.target.ready_timeout_s),
                    ("lock_reports", self.target.lock_reports),
                    ("ca_file", self.target.ca_file), ("origin", self.target.origin),
                    ("label", self.target.label)) if value is not None},
                **({"insecure": True} if self.target.insecure else {}),
                "server": self.target.server,
            },
            "protocol": dict(self.protocol.description),
            "load": {
                "rooms": self.load.rooms,
                "members": self.load.members,
                "slow_members": self.load.slow_members,
                "fast_members": self.load.fast_members,
                "spawn_rate": self.load.spawn_rate,
                "broadcast_interval_s": self.load.broadcast_interval_s,
                "stay_s": self.load.stay_s,
                "away_s": self.load.away_s,
                "body_size": self.load.body_size,
                "op_timeout_s": self.load.op_timeout_s,
            },
            "timing": {
                "warmup_s": self.timing.warmup_s,
                "fault_s": self.timing.fault_s,
                "cooldown_s": self.timing.cooldown_s,
                "total_s": self.timing.total_s,
                "evidence_window_s": self.timing.evidence_window_s,
            },
            "faults": [
                {**fault.to_dict(), "toxic": fault.toxic().to_dict()}
                for fault in self.proxy_faults
            ] + [fault.to_dict() for fault in self.member_faults],
            "thresholds": {
                "min_samples": self.thresholds.min_samples,
                "checks": [check.text for check in self.thresholds.checks],
                "abort_on_fail": [check.text for check in self.thresholds.abort_on_fail],
                "max_generator_lag_s": self.thresholds.max_generator_lag_s,
            },
            "expect": self.expectations,
            "network": {"socket_buffer": self.network.socket_buffer,
                        "fast_members": self.network.fast_members},
            **({"push": self.push.to_dict()} if self.push is not None else {}),
        }


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate the scenario file at ``path``.

    Raises:
        ScenarioError: the file cannot be read, is not valid TOML, or breaks the schema.
    """
    try:
        source_text = _read_regular_file(path).decode("utf-8")
    except OSError as problem:
        raise ScenarioError(path, f"cannot read file: {problem.strerror or problem}") from None
    except UnicodeDecodeError as problem:
        raise ScenarioError(
            path, f"file is not UTF-8 text (byte {problem.start}); save it as UTF-8"
        ) from None
    try:
        document = tomllib.loads(source_text)
    except tomllib.TOMLDecodeError as problem:
        raise ScenarioError(path, _describe_toml_error(str(problem), source_text)) from None
    return _ScenarioReader(path).read(document)


def _read_regular_file(path: str | Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_SCENARIO_BYTES`.

    Opened without blocking and checked on the open descriptor, so a FIFO cannot hang the
    harness and a device such as ``/dev/zero`` cannot fill its memory.

    Raises:
        OSError: unreadable, not a regular file, or too large (``strerror`` says which).
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise OSError(errno.EISDIR, "it is a directory; give a scenario .toml file")
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or socket); give a "
                                        "scenario .toml file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(descriptor, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SCENARIO_BYTES:
                raise OSError(errno.EFBIG, f"larger than {MAX_SCENARIO_BYTES // 1024} KiB; a "
                                           "scenario is a few kilobytes of TOML")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _describe_toml_error(message: str, source_text: str) -> str:
    """One line explaining a TOML syntax error, quoting the offending line."""
    message = " ".join(message.split())
    location = re.search(r"\(at line (\d+), column \d+\)", message)
    if location is None:
        return f"invalid TOML: {message}"
    lines = source_text.splitlines()
    line_number = int(location.group(1))
    offending_line = lines[line_number - 1].strip() if 0 < line_number <= len(lines) else ""
    hint = ""
    if re.search(r"=\s*[0-9.]+\s*[A-Za-z]+\s*(#.*)?$", offending_line):
        hint = '; durations are strings and need quotes, e.g. stay = "2s"'
    quoted = f" in `{offending_line}`" if offending_line else ""
    return f"invalid TOML: {message}{quoted}{hint}"


# In this order: a bool is an int too.
_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (list, "array"),
    (dict, "table"),
)


def _toml_type(value: object) -> str:
    """The TOML name of a parsed value's type, for error messages."""
    return next((name for kind, name in _TOML_TYPES if isinstance(value, kind)), "date/time")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"did you mean 'x'? "`` for the closest choice, or ``""``."""
    matches = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{matches[0]}'? " if matches else ""


class _ScenarioReader:
    """Turns a decoded TOML document into a :class:`Scenario`, raising ScenarioError."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.checks_are_default = False

    def fail(self, problem: str) -> ScenarioError:
        """A ScenarioError for this file (to be raised by the caller)."""
        return ScenarioError(self.path, problem)

    def read(self, document: dict[str, Any]) -> Scenario:
        """Validate the whole document."""
        self.reject_unknown_keys(document, TOP_LEVEL_KEYS, "at top level")
        name = self.read_name(document)
        description = self.read_string(document, "description", "", "description")
        target = self.read_target(self.section(document, "target"))
        protocol = self.read_protocol(self.section(document, "protocol"), target)
        push = self.read_push(self.section(document, "push"), protocol) \
            if "push" in document else None
        load = self.read_load(self.section(document, "load"))
        timing = self.read_timing(self.section(document, "timing"))
        faults = self.read_faults(document.get("faults", []))
        thresholds = self.read_thresholds(self.section(document, "thresholds"))
        expect = self.read_expect(self.section(document, "expect"))
        network = self.read_network(self.section(document, "network"))
        self.check_consistency(load, timing, faults, thresholds)
        return Scenario(
            name=name,
            description=description,
            target=target,
            load=load,
            timing=timing,
            faults=faults,
            thresholds=thresholds,
            source_path=Path(self.path),
            protocol=protocol,
            expect=expect,
            push=push,
            network=network,
        )

    # -- generic readers -------------------------------------------------------------------

    def reject_unknown_keys(
        self, table: Mapping[str, Any], allowed: Sequence[str], where: str
    ) -> None:
        """Raise for the first key of ``table`` not in ``allowed``, suggesting the closest."""
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"unknown key '{key}' {where}; {_did_you_mean(key, allowed)}"
                    f"(allowed: {', '.join(allowed)})"
                )

    def section(self, document: Mapping[str, Any], name: str) -> dict[str, Any]:
        """The ``[name]`` table, empty when absent; raises if it is not a table."""
        table = document.get(name, {})
        if not isinstance(table, dict):
            raise self.fail(
                f"'{name}' must be a table, got {_toml_type(table)}; write [{name}] on its own "
                "line followed by key = value lines"
            )
        return table

    def read_string(self, table: Mapping[str, Any], key: str, default: str, label: str) -> str:
        """A string value, ``default`` when absent."""
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(
                f'{label} must be a string, got {_toml_type(value)} {value!r}; write {key} = "..."'
            )
        return value

    def read_integer(self, table: Mapping[str, Any], key: str, default: int, label: str) -> int:
        """An integer value, ``default`` when absent."""
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            example = default
            if isinstance(value, float) and value.is_integer():
                example = int(value)
            elif isinstance(value, str) and value.strip().isdigit():
                example = int(value)
            raise self.fail(
                f"{label} must be an integer, got {_toml_type(value)} {value!r}; "
                f"write e.g. {key} = {example}"
            )
        return value

    def read_number(self, table: Mapping[str, Any], key: str, default: float, label: str) -> float:
        """An integer or float value, ``default`` when absent."""
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(
                f"{label} must be a number, got {_toml_type(value)} {value!r}; "
                f"write e.g. {key} = {default:g}"
            )
        return float(value)

    def read_duration(self, table: Mapping[str, Any], key: str, default_s: float, label: str,
                      maximum_s: float = MAX_SETTING_S) -> float:
        """A duration in seconds, ``default_s`` when absent, at most ``maximum_s``.

        Defaults come from the settings dataclasses' own fields: one source for each.
        """
        value = table.get(key, default_s)
        try:
            seconds = parse_duration(value)
        except ValueError as problem:
            raise self.fail(f"{label}: {problem}") from None
        if seconds > maximum_s:
            raise self.fail(
                f"{label} is {seconds:g}s, more than the allowed {maximum_s:g}s; "
                f'use e.g. {key} = "{format_duration(default_s)}"'
            )
        return seconds

    def check_rules(self, rules: Iterable[tuple[bool, str]]) -> None:
        """Raise with the message of the first rule broken: ``(broken, message)`` pairs, in
        the order the file's problems are reported."""
        for broken, message in rules:
            if broken:
                raise self.fail(message)

    def read_string_list(
        self, table: Mapping[str, Any], key: str, default: Sequence[str], label: str
    ) -> list[str]:
        """A list of strings, ``default`` when absent."""
        value = table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(
                f'{label} must be an array of strings, e.g. {key} = ["lock_reports == 0"], '
                f"got {_toml_type(value)} {value!r}"
            )
        return value

    # -- sections --------------------------------------------------------------------------

    def read_name(self, document: Mapping[str, Any]) -> str:
        """The required top-level ``name``."""
        if "name" not in document:
            suggestion = self.suggested_name()
            raise self.fail(
                f"missing required key 'name' at top level; add e.g. name = \"{suggestion}\""
            )
        name = self.read_string(document, "name", "", "name")
        if not _NAME_PATTERN.match(name):
            suggestion = (
                re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or self.suggested_name()
            )
            raise self.fail(
                f"name {name!r} may only contain letters, digits, '.', '_' and '-' (it names "
                f'result files); try name = "{suggestion}"'
            )
        return name

    def suggested_name(self) -> str:
        """A valid name derived from the file name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.path).stem).strip("-._") or "my-scenario"

    def read_target(self, table: dict[str, Any]) -> TargetSettings:
        """``[target]``; every duration must be > 0."""
        self.reject_unknown_keys(table, TARGET_KEYS, "in [target]")
        defaults = {
            "send_timeout": TargetSettings.send_timeout_s,
            "lock_wait_threshold": TargetSettings.lock_wait_threshold_s,
            "lock_hold_threshold": TargetSettings.lock_hold_threshold_s,
        }
        seconds: dict[str, float] = {}
        for key, default in defaults.items():
            seconds[key] = self.read_duration(table, key, default, f"[target] {key}")
            if seconds[key] <= 0:
                raise self.fail(f"[target] {key} must be > 0; use e.g. "
                                f'{key} = "{format_duration(default)}"')
        default_suspend = TargetSettings.lock_suspend_threshold_s
        suspend_s = self.read_duration(
            table, "lock_suspend_threshold", default_suspend, "[target] lock_suspend_threshold"
        )
        if suspend_s < 0:
            raise self.fail(
                "[target] lock_suspend_threshold must be >= 0 (0 is off); use e.g. "
                f'lock_suspend_threshold = "{format_duration(default_suspend)}"'
            )
        delivery = self.read_string(table, "delivery", TargetSettings.delivery,
                                    "[target] delivery")
        metrics_url = None
        if "metrics_url" in table:
            try:
                metrics_url = parse_metrics_url(
                    self.read_string(table, "metrics_url", "", "[target] metrics_url")).url
            except ValueError as problem:
                raise self.fail(str(problem)) from None
        texts = {key: self.read_string(table, key, "", f"[target] {key}")
                 for key in TARGET_TEXT_KEYS if key in table}
        ready_timeout_s = (self.read_duration(table, "ready_timeout", 0.0,
                                              "[target] ready_timeout")
                           if "ready_timeout" in table else None)
        insecure = table.get("insecure", False)
        if not isinstance(insecure, bool):
            raise self.fail(f"[target] insecure must be true or false, got "
                            f"{_toml_type(insecure)} {insecure!r}")
        server = self.read_string(table, "server", TargetSettings.server, "[target] server")
        if server not in BUNDLED_SERVERS:
            raise self.fail(
                f"[target] server {server!r} is not a bundled server; "
                f"{_did_you_mean(server, list(BUNDLED_SERVERS))}"
                f"(bundled: {', '.join(BUNDLED_SERVERS)})"
            )
        checked: dict[str, str] = {}
        for key, check in (("origin", check_origin), ("label", check_label)):
            if key in table:
                try:
                    checked[key] = check(self.read_string(table, key, "", f"[target] {key}"),
                                         f"[target] {key}")
                except ValueError as problem:
                    raise self.fail(str(problem)) from None
        deliveries = BUNDLED_SERVERS[server].deliveries
        if "delivery" in table and not deliveries:
            takers = ", ".join(name for name, bundled in BUNDLED_SERVERS.items()
                               if bundled.deliveries)
            raise self.fail(f"[target] delivery does not apply to the {server} server; drop it "
                            f"(servers that take it: {takers})")
        if "delivery" in table and delivery not in deliveries:
            raise self.fail(f"[target] delivery {delivery!r} is unknown; "
                            f"{_did_you_mean(delivery, deliveries)}use one of "
                            f"{', '.join(deliveries)} (e.g. delivery = \"write\")")
        return TargetSettings(
            server=server,
            send_timeout_s=seconds["send_timeout"],
            lock_wait_threshold_s=seconds["lock_wait_threshold"],
            lock_hold_threshold_s=seconds["lock_hold_threshold"],
            lock_suspend_threshold_s=suspend_s,
            delivery=delivery,
            metrics_url=metrics_url,
            ready_timeout_s=ready_timeout_s,
            insecure=insecure,
            **texts,
            **checked,
        )

    def read_protocol(self, table: dict[str, Any], target: TargetSettings) -> ProtocolSettings:
        """``[protocol]``: built once here, so that a bad description stops the run now."""
        description = {"kind": target.bundled.protocol, **table}
        try:
            check_protocol(description)
        except ValueError as problem:
            message = str(problem)
            raise self.fail(message if message.startswith("[protocol]")
                            else f"[protocol] {message}") from None
        return ProtocolSettings(tuple(description.items()))

    def read_push(self, table: dict[str, Any], protocol: ProtocolSettings) -> PushSettings:
        """``[push]``: checked with the protocol, which must recognise pushes (and build
        broadcasts where members chat too)."""
        try:
            push = PushSettings.from_table(table)
        except ValueError as problem:
            raise self.fail(str(problem)) from None
        description = dict(protocol.description)
        kind = protocol.kind
        if kind in PROTOCOLS and "push" not in description:
            raise self.fail(f'[push] needs a protocol that recognises the server\'s pushes: '
                            f'kind = "{kind}" has no push rule; add one to [protocol] (json: '
                            'push = {type = "tick"}; socketio: push = {event = "tick"}), or '
                            "name your own class (docs/protocols.md, \"Server-push rooms\")")
        if push.members_broadcast and not build_protocol(description).broadcasts:
            raise self.fail("[push] members_broadcast = true, but [protocol] has no broadcast "
                            "frame; add broadcast (and message), or leave members_broadcast "
                            "out (listen-only)")
        return push

    def read_load(self, table: dict[str, Any]) -> LoadSettings:
        """``[load]``; counts must be possible together (see the checks below)."""
        self.reject_unknown_keys(table, LOAD_KEYS, "in [load]")
        default = LoadSettings()

        def count(key: str) -> int:
            return self.read_integer(table, key, getattr(default, key), f"[load] {key}")

        def duration(key: str) -> float:
            return self.read_duration(table, key, getattr(default, f"{key}_s"), f"[load] {key}")

        # Read in the keys' documented order: the first bad one is the one reported.
        load = LoadSettings(
            rooms=count("rooms"), members=count("members"), slow_members=count("slow_members"),
            spawn_rate=self.read_number(table, "spawn_rate", default.spawn_rate,
                                        "[load] spawn_rate"),
            broadcast_interval_s=duration("broadcast_interval"), stay_s=duration("stay"),
            away_s=duration("away"), body_size=self.read_size(table, "body_size",
                                                              "[load] body_size"),
            op_timeout_s=duration("op_timeout"),
        )
        members, rooms, slow, rate = load.members, load.rooms, load.slow_members, load.spawn_rate
        low_rate, high_rate = SPAWN_RATE_RANGE
        self.check_rules((
            (not 0 < load.op_timeout_s <= MAX_OP_TIMEOUT_S,
             f"[load] op_timeout must be > 0 and at most {MAX_OP_TIMEOUT_S:g}s, "
             f'got {load.op_timeout_s:g}s; use e.g. op_timeout = "5s"'),
            (members < 1, f"[load] members must be >= 1, got {members}"),
            (members > MAX_MEMBERS,
             f"[load] members must be at most {MAX_MEMBERS}, got {members}; one run's members "
             "all run on this machine, so use e.g. members = 12"),
            (rooms < 1, f"[load] rooms must be >= 1, got {rooms}"),
            (rooms > members,
             f"[load] rooms ({rooms}) > members ({members}): some rooms would stay empty; "
             "lower rooms or raise members"),
            (slow < 0, f"[load] slow_members must be >= 0, got {slow}"),
            (slow > members,
             f"[load] slow_members ({slow}) > members ({members}); slow members are "
             "counted in members, so lower slow_members or raise members"),
            (rate <= 0, f"[load] spawn_rate must be > 0 users per second, got {rate:g}"),
            (slow > MAX_SLOW_MEMBERS,
             f"[load] slow_members must be at most {MAX_SLOW_MEMBERS} (each gets a Toxiproxy "
             f"proxy of its own), got {slow}"),
            # NaN is never in range.
            (not low_rate <= rate <= high_rate,
             f"[load] spawn_rate (users per second) must be {low_rate:g}..{high_rate:g}, got "
             f"{rate:g}; use e.g. spawn_rate = 12 (0.1 starts one member every 10 s)"),
            (load.broadcast_interval_s <= 0,
             '[load] broadcast_interval must be > 0; use e.g. "200ms"'),
            (load.stay_s <= 0, '[load] stay must be > 0; use e.g. "2s"'),
        ))
        return load

    def read_size(self, table: Mapping[str, Any], key: str, label: str,
                  maximum: int = 0) -> int:
        """A size in bytes written ``"16KiB"`` (units B, KiB, MiB; KB and MB read as KiB and
        MiB), 0 when absent,
        at most ``maximum`` (:data:`MAX_BODY_SIZE` for 0)."""
        if key not in table:
            return 0
        value = table[key]
        match = _SIZE_PATTERN.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(f'{label} must be a size like "16KiB" (units B, KiB, MiB), got '
                            f"{_toml_type(value)} {value!r}")
        size = int(match["number"]) * _SIZE_UNITS[match["unit"].lower()]
        if maximum and not 4096 <= size <= maximum:
            raise self.fail(f"{label} must be from 4KiB to {maximum // (1024 * 1024)}MiB, got "
                            f'{value!r}; use e.g. {key} = "64KiB"')
        if not maximum and size > MAX_BODY_SIZE:
            raise self.fail(f"{label} is {size} bytes, more than {MAX_BODY_SIZE // 1024}KiB: a "
                            "broadcast frame must stay under the server's 64 KiB limit on "
                            'client frames; use e.g. body_size = "16KiB"')
        return size

    def read_expect(self, table: dict[str, Any]) -> dict[str, str]:
        """``[expect]``: ``MODE = "VERDICT"`` per mode; the canary's expectations when absent."""
        if not table:
            return {}
        self.reject_unknown_keys(table, MODES, "in [expect]")
        expect: dict[str, str] = {}
        for mode in MODES:  # in the modes' own order
            if mode not in table:
                continue
            verdict = table[mode]
            if verdict not in VERDICTS:
                raise self.fail(f"[expect] {mode} must be one of {', '.join(VERDICTS)}, got "
                                f'{verdict!r}; write e.g. {mode} = "PASS"')
            expect[mode] = verdict
        return expect

    def read_network(self, table: dict[str, Any]) -> NetworkSettings:
        """``[network]``: ``socket_buffer`` and ``fast_members``."""
        self.reject_unknown_keys(table, ("socket_buffer", "fast_members"), "in [network]")
        fast_members = table.get("fast_members", NetworkSettings.fast_members)
        if fast_members not in FAST_MEMBER_PATHS:
            raise self.fail(f"[network] fast_members must be one of "
                            f"{', '.join(map(repr, FAST_MEMBER_PATHS))}, got {fast_members!r}; "
                            'write fast_members = "direct" to skip the clean proxy')
        return NetworkSettings(
            socket_buffer=self.read_size(table, "socket_buffer", "[network] socket_buffer",
                                         MAX_SOCKET_BUFFER),
            fast_members=fast_members)

    def read_timing(self, table: dict[str, Any]) -> TimingSettings:
        """``[timing]``; the run must last longer than zero seconds."""
        self.reject_unknown_keys(table, TIMING_KEYS, "in [timing]")
        default = TimingSettings()

        def phase(key: str, default_s: float) -> float:
            return self.read_duration(table, key, default_s, f"[timing] {key}", MAX_TIMING_S)

        timing = TimingSettings(
            warmup_s=phase("warmup", default.warmup_s),
            fault_s=phase("fault", default.fault_s),
            cooldown_s=phase("cooldown", default.cooldown_s),
            evidence_window_s=phase("evidence_window", default.evidence_window_s),
        )
        if timing.total_s <= 0:
            raise self.fail("[timing] warmup + fault + cooldown is 0s; the run must last > 0s")
        return timing

    def read_faults(self, raw_faults: object) -> tuple[Fault, ...]:
        """Every ``[[faults]]`` table, each validated by its fault kind."""
        if not isinstance(raw_faults, list):
            raise self.fail(
                f"'faults' must be an array of tables, got {_toml_type(raw_faults)}; write "
                "[[faults]] (double brackets) above each fault"
            )
        faults = tuple(self.read_fault(table, number) for number, table in enumerate(raw_faults, 1))
        on_member = [fault.kind for fault in faults if FAULT_KINDS[fault.kind].where == MEMBER]
        on_proxy = [fault.kind for fault in faults if FAULT_KINDS[fault.kind].where != MEMBER]
        if on_member and on_proxy:
            # A member fault needs the member to be the server's own peer (a proxy would hold
            # the backlog and its socket would be measured instead); proxy faults need a proxy.
            raise self.fail(
                f"[[faults]] {on_member[0]!r} (acted out by the slow members, connected to the "
                f"target directly) cannot be combined with {on_proxy[0]!r} (a toxic on the "
                "slow members' proxies) in one scenario; use one scenario for each")
        return faults

    def read_fault(self, table: object, number: int) -> Fault:
        """One ``[[faults]]`` table; ``number`` is 1-based, for messages."""
        where = f"[[faults]] #{number}"
        if not isinstance(table, dict):
            raise self.fail(f"{where} must be a table, got {_toml_type(table)}")
        kinds = list(FAULT_KINDS)
        if "kind" not in table:
            raise self.fail(f'{where} has no kind; add kind = "..." (one of: {", ".join(kinds)})')
        kind_name = table["kind"]
        if not isinstance(kind_name, str) or kind_name not in FAULT_KINDS:
            hint = _did_you_mean(kind_name, kinds) if isinstance(kind_name, str) else ""
            raise self.fail(
                f"{where} has unknown kind {kind_name!r}; {hint}(known kinds: {', '.join(kinds)})"
            )
        fault_kind = FAULT_KINDS[kind_name]
        where = f'{where} (kind = "{kind_name}")'
        self.reject_unknown_keys(table, (*COMMON_KEYS, *fault_kind.keys), f"in {where}")
        try:
            return fault_kind.parse(table)
        except ValueError as problem:
            raise self.fail(f"{where}: {problem}") from None

    def read_thresholds(self, table: dict[str, Any]) -> ThresholdSettings:
        """``[thresholds]``: parse every check; abort_on_fail must name listed checks."""
        self.reject_unknown_keys(table, THRESHOLD_KEYS, "in [thresholds]")
        min_samples = self.read_integer(table, "min_samples", ThresholdSettings.min_samples,
                                        "[thresholds] min_samples")
        if min_samples < 1:
            raise self.fail(f"[thresholds] min_samples must be >= 1, got {min_samples}")
        if min_samples > MAX_MIN_SAMPLES:
            raise self.fail(
                f"[thresholds] min_samples must be at most {MAX_MIN_SAMPLES}, got {min_samples}; "
                "no run records that many, so every check would lack data; use e.g. "
                "min_samples = 20"
            )
        self.checks_are_default = "checks" not in table
        check_texts = self.read_string_list(table, "checks", DEFAULT_CHECKS, "[thresholds] checks")
        checks: list[Check] = []
        for check_text in check_texts:
            check = self.parse_check(check_text, "[thresholds] checks")
            duplicate = next((seen for seen in checks if seen.canonical == check.canonical), None)
            if duplicate is not None:
                raise self.fail(
                    f"[thresholds] checks lists '{check_text}' twice (same as "
                    f"'{duplicate.text}'); remove one"
                )
            checks.append(check)
        abort_texts = self.read_string_list(
            table, "abort_on_fail", (), "[thresholds] abort_on_fail"
        )
        abort_on_fail: list[Check] = []
        for abort_text in abort_texts:
            abort_check = self.parse_check(abort_text, "[thresholds] abort_on_fail")
            listed = next(
                (seen for seen in checks if seen.canonical == abort_check.canonical), None
            )
            if listed is None:
                raise self.fail(
                    f"[thresholds] abort_on_fail entry '{abort_text}' is not one of the checks; "
                    f"{_did_you_mean(abort_text, [check.text for check in checks])}"
                    "copy it from checks or add it to checks"
                )
            abort_on_fail.append(listed)
        max_generator_lag_s = self.read_duration(
            table, "max_generator_lag", ThresholdSettings.max_generator_lag_s,
            "[thresholds] max_generator_lag"
        )
        if max_generator_lag_s <= 0:
            raise self.fail('[thresholds] max_generator_lag must be > 0; use e.g. "100ms"')
        return ThresholdSettings(
            min_samples=min_samples, checks=tuple(checks), abort_on_fail=tuple(abort_on_fail),
            max_generator_lag_s=max_generator_lag_s,
        )

    def parse_check(self, check_text: str, label: str) -> Check:
        """One check string, with the location prefixed to any error."""
        try:
            return parse_check(check_text)
        except ValueError as problem:
            raise self.fail(f"{label}: {problem}") from None

    # -- cross-section rules ---------------------------------------------------------------

    def check_consistency(
        self,
        load: LoadSettings,
        timing: TimingSettings,
        faults: tuple[Fault, ...],
        thresholds: ThresholdSettings,
    ) -> None:
        """Reject combinations that cannot do what the file asks for."""
        if faults and load.slow_members == 0:
            raise self.fail(
                "[[faults]] are listed but [load] slow_members = 0, so no member goes through a "
                "faulty proxy; set slow_members >= 1 or remove the faults"
            )
        if faults and timing.fault_s <= 0:
            raise self.fail(
                "[[faults]] are listed but [timing] fault is 0s, so they would never be active; "
                f'set e.g. fault = "{format_duration(12)}" or remove the faults'
            )
        origin = ""
        if self.checks_are_default:
            origin = " (a default check; set [thresholds] checks to choose)"
        for check in thresholds.checks:
            metric = check.metric
            if not isinstance(metric, LatencyMetric):
                continue
            if metric.members == "fast" and load.fast_members == 0:
                raise self.fail(
                    f"[thresholds] check '{check.text}'{origin} needs fast members but every "
                    f"member is slow (slow_members = members = {load.members}); lower "
                    "slow_members or drop the check"
                )
            if metric.members == "slow" and load.slow_members == 0:
                raise self.fail(
                    f"[thresholds] check '{check.text}'{origin} needs slow members but "
                    "slow_members = 0; raise slow_members or drop the check"
                )


def main(argv: Sequence[str] | None = None) -> int:
    """Validate scenario files: print one line per file; exit 2 if any is invalid."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m harness.scenario SCENARIO.toml...", file=sys.stderr)
        return 2
    exit_code = 0
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as problem:
            print(problem, file=sys.stderr)
            exit_code = 2
            continue
        print(
            f"{path}: ok: {scenario.name}, {format_duration(scenario.total_duration)}, "
            f"{scenario.load.members} members ({scenario.load.slow_members} slow), "
            f"{len(scenario.faults)} faults, {len(scenario.thresholds.checks)} checks"
        )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
