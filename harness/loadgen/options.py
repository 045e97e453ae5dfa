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
    load = LoadSettings()
    parser.add_argument("--room-url", default="ws://127.0.0.1:8765/ws", include_in_web_ui=True,
                       help="WebSocket URL for fast members (the clean proxy or the server)")
    parser.add_argument("--slow-urls", default="", include_in_web_ui=True,
                       help="comma-separated WebSocket URLs, one per slow member "
                            "(each slow member's own Toxiproxy proxy)")
    parser.add_argument("--rooms", type=int, default=load.rooms, include_in_web_ui=True,
                       help="number of rooms; member i joins room i mod rooms")
    parser.add_argument("--broadcast-interval", type=float, default=load.broadcast_interval_s,
                        include_in_web_ui=True,
                       help="seconds between a member's broadcasts while in a room")
    parser.add_argument("--stay", type=float, default=load.stay_s, include_in_web_ui=True,
                       help="seconds a member stays in a room before leaving")
    parser.add_argument("--away", type=float, default=load.away_s, include_in_web_ui=True,
                       help="seconds a member stays away before rejoining")
    parser.add_argument("--body-size", type=int, default=load.body_size, include_in_web_ui=True,
                        help="bytes of fresh random text in each broadcast body (0: 'hello'); "
                             "large bodies fill a stalled member's buffers fast")
    # Member faults (a stall), between the harness and the master: both JSON lines.
    for flag, what in (("--control-file", "follow this file for member fault commands"),
                       ("--member-faults-file", "append what members measure while acting "
                                                "a fault out (a stalled member's queues) here")):
        parser.add_argument(flag, default="", include_in_web_ui=False, help=what)
    parser.add_argument("--protocol", default="", include_in_web_ui=False,
                        help="the wire protocol as JSON, the scenario's [protocol] table "
                             '(e.g. {"kind": "socketio"}); empty: roomchaos (docs/protocol.md)')
    parser.add_argument("--op-timeout", type=float, default=15.0, include_in_web_ui=False,
                       help="seconds to wait for a reply before counting the operation failed")
    parser.add_argument("--samples-file", default="", include_in_web_ui=False,
                       help="append every sample as a JSON line to this file (for the harness)")
    parser.add_argument("--histograms-file", default="", include_in_web_ui=False,
                        help="write merged HdrHistograms (raw and corrected latency) here")
    parser.add_argument("--lag-file", default="", include_in_web_ui=False,
                        help="append the Locust processes' event-loop lag windows (JSON lines) "
                             "to this file (for the harness)")
    parser.add_argument("--lock-reports", default="", include_in_web_ui=True,
                       help="URL or file of the target's lock reports; each new report shows "
                            "as a failure of type LOCK")
    parser.add_argument("--ca-file", default="", include_in_web_ui=False,
                        help="with a wss:// target: PEM file of the CA that signed its "
                             "certificate (default: the system's CAs)")
    parser.add_argument("--insecure", action="store_true", include_in_web_ui=False,
                        help="with a wss:// target: do not verify its certificate")
    # The web UI's Chaos tab (harness.webui); `python -m harness ui` passes them all.
    parser.add_argument("--target-url", default="", include_in_web_ui=True,
                        help="the server under test, ws://127.0.0.1:PORT/ws; members that dial "
                             "a proxy keep its host for TLS (SNI, verification) and the Host "
                             "header; in the web UI, a new value re-points the proxies to it")
    parser.add_argument("--slow-members", type=int, default=load.slow_members,
                        include_in_web_ui=True,
                        help="members (the first started) that go through their own slow "
                             "proxy; missing proxies are created when the swarm starts")
    parser.add_argument("--latency", type=int, default=0, include_in_web_ui=True,
                        help="ms of latency on every slow member's link from the swarm's start; "
                             "a new value while running applies at once, 0 clears it")
    parser.add_argument("--toxiproxy-url", default="", include_in_web_ui=False,
                        help="Toxiproxy API that holds the slow members' proxies (Chaos tab)")
    parser.add_argument("--slow-proxies", default="", include_in_web_ui=False,
                        help="comma-separated Toxiproxy proxy names, one per --slow-urls entry "
                             "(Chaos tab)")
    parser.add_argument("--target-mode", default="", include_in_web_ui=False,
                        help="mode of the bundled reference server, shown in the Chaos tab")
    parser.add_argument("--scenario", default="", include_in_web_ui=False,
                        help="scenario file whose thresholds the Chaos tab evaluates live")
