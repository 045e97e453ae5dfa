"""Custom Locust command-line options (also shown in the web UI's start form)."""

from __future__ import annotations

from typing import Any

from harness.scenario import LoadSettings

__all__ = ["add_options"]


def add_options(parser: Any) -> None:
    """Register the room options on Locust's argument parser.

    The load's defaults are the scenario's (:class:`~harness.scenario.LoadSettings`), so a
    hand-started ``locust -f locustfile.py`` behaves like a run of the default scenario.
    """
    for flag, default, in_web_ui, text in _options(LoadSettings()):
        kind: dict[str, Any] = {}
        if isinstance(default, bool):  # a switch, off unless given
            kind = {"action": "store_true"}
        elif not isinstance(default, str):
            kind = {"type": type(default)}
        parser.add_argument(flag, default=default, include_in_web_ui=in_web_ui, help=text,
                            **kind)


def _options(load: LoadSettings) -> list[tuple[str, str | int | float | bool, bool, str]]:
    """Each option: its flag, its default (which says its type; ``False``: a switch), whether
    Locust's web UI shows it in the start form, and its help."""
    return [
        ("--room-url", "ws://127.0.0.1:8765/ws", True,
         "WebSocket URL for fast members (the clean proxy or the server)"),
        ("--slow-urls", "", True,
         "comma-separated WebSocket URLs, one per slow member "
         "(each slow member's own Toxiproxy proxy)"),
        ("--rooms", load.rooms, True, "number of rooms; member i joins room i mod rooms"),
        ("--broadcast-interval", load.broadcast_interval_s, True,
         "seconds between a member's broadcasts while in a room"),
        ("--stay", load.stay_s, True, "seconds a member stays in a room before leaving"),
        ("--away", load.away_s, True, "seconds a member stays away before rejoining"),
        ("--body-size", load.body_size, True,
         "bytes of fresh random text in each broadcast body (0: 'hello'); "
         "large bodies fill a stalled member's buffers fast"),
        # Member faults (a stall), between the harness and the master: both JSON lines.
        ("--control-file", "", False, "follow this file for member fault commands"),
        ("--member-faults-file", "", False,
         "append what members measure while acting a fault out (a stalled member's queues) here"),
        ("--protocol", "", False,
         "the wire protocol as JSON, the scenario's [protocol] table "
         '(e.g. {"kind": "socketio"}); empty: roomchaos (docs/wire-protocol.md)'),
        ("--op-timeout", load.op_timeout_s, True,
         "seconds an operation waits for its reply before it fails with 'timeout' "
         "(the scenario's [load] op_timeout)"),
        ("--samples-file", "", False,
         "append every sample as a JSON line to this file (for the harness)"),
        ("--histograms-file", "", False,
         "write merged HdrHistograms (raw and corrected latency) here"),
        ("--lag-file", "", False,
         "append the Locust processes' event-loop lag windows (JSON lines) "
         "to this file (for the harness)"),
        ("--lock-reports", "", True,
         "URL or file of the target's lock reports; each new report shows "
         "as a failure of type LOCK"),
        ("--ca-file", "", False,
         "with a wss:// target: PEM file of the CA that signed its "
         "certificate (default: the system's CAs)"),
        ("--insecure", False, False, "with a wss:// target: do not verify its certificate"),
        ("--origin", "", False,
         "the Origin header members send (default: the origin of --target-url, whatever "
         "proxy they dial)"),
        # The web UI's Chaos tab (harness.webui); `python -m harness ui` passes them all.
        ("--target-url", "", True,
         "the server under test, ws://127.0.0.1:PORT/ws; members that dial "
         "a proxy keep its host for TLS (SNI, verification) and the Host "
         "header; in the web UI, a new value re-points the proxies to it"),
        ("--slow-members", load.slow_members, True,
         "members (the first started) that go through their own slow "
         "proxy; missing proxies are created when the swarm starts"),
        ("--latency", 0, True,
         "ms of latency on every slow member's link from the swarm's start; "
         "a new value while running applies at once, 0 clears it"),
        ("--toxiproxy-url", "", False,
         "Toxiproxy API that holds the slow members' proxies (Chaos tab)"),
        ("--slow-proxies", "", False,
         "comma-separated Toxiproxy proxy names, one per --slow-urls entry (Chaos tab)"),
        ("--target-mode", "", False,
         "mode of the bundled reference server, shown in the Chaos tab"),
        ("--scenario", "", False,
         "scenario file whose thresholds the Chaos tab evaluates live"),
    ]
