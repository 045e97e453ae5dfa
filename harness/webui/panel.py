"""The state behind the Chaos tab: target, slow members' proxies, thresholds, lock reports.

One :class:`ChaosPanel` lives on the master (or local runner) of a Locust that has a web UI. A
greenlet refreshes it every second; the Flask routes and Locust's own tab only read the cached
state, so a slow Toxiproxy never slows the page down.

The start form's custom parameters take effect when a swarm starts (``test_start``, fired before
any user is spawned): ``target_url`` re-points the proxies, ``slow_members`` picks (and if need
be creates) the slow members' proxies, and a ``latency`` above 0 is put on their links. Editing
a running test with a different latency applies it at once (0 clears it).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent

from harness.faults import FAULT_KINDS
from harness.loadgen.lockfeed import summarize
from harness.loadgen.memberfaults import member_faults
from harness.scenario import DEFAULT_CHECKS, ScenarioError, ThresholdSettings, load_scenario
from harness.thresholds import Check, parse_check
from harness.toxiproxy.client import ToxiproxyClient
from harness.webui.live import LiveMeasurements, ThresholdStatus
from harness.webui.proxies import ChaosError, ChaosProxies
from lockwatch.report import Report

__all__ = ["ChaosPanel", "PanelSettings", "report_item"]

logger = logging.getLogger(__name__)

REFRESH_INTERVAL = 1.0
#: Deadline of each Toxiproxy call made for the tab, in seconds.
TOXIPROXY_TIMEOUT = 3.0
#: Lock reports shown in Locust's own (read-only) Chaos tab; the Chaos page shows them all.
TAB_REPORTS = 10


@dataclass(frozen=True)
class PanelSettings:
    """What the panel needs from Locust's parsed options."""

    toxiproxy_url: str
    slow_proxies: list[str]
    slow_urls: list[str]
    room_url: str
    target_url: str
    target_mode: str
    lock_reports: str
    scenario: str
    samples_file: str

    @classmethod
    def from_options(cls, options: Any) -> PanelSettings:
        def text(name: str) -> str:
            return str(getattr(options, name, "") or "").strip()

        def names(name: str) -> list[str]:
            return [part.strip() for part in text(name).split(",") if part.strip()]

        return cls(text("toxiproxy_url"), names("slow_proxies"), names("slow_urls"),
                   text("room_url"), text("target_url"), text("target_mode"),
                   text("lock_reports"), text("scenario"), text("samples_file"))


def report_item(index: int, report: dict[str, Any]) -> dict[str, Any]:
    """One lock report as the page shows it, stacks included as go-deadlock-style text."""
    holders = report.get("holders") or []
    subject = report.get("subject") or {}
    holder = holders[0] if holders and isinstance(holders[0], dict) else {}
    try:
        text = Report.from_dict(report).render()
    except (ValueError, TypeError, KeyError, AttributeError):
        text = json.dumps(report, indent=2, default=str)
    when = float(report.get("time") or 0)
    return {
        "index": index,
        "time": when,
        "clock": time.strftime("%H:%M:%S", time.localtime(when)) if when else "",
        "kind": str(report.get("kind", "?")),
        "lock": str(report.get("lock", "?")),
        "duration_ms": round(float(report.get("duration_s") or 0) * 1000),
        "holder": str(holder.get("name", "")),
        "holder_site": str(holder.get("acquire_site", "?")),
        "waiter_site": str(subject.get("acquire_site", "")) if isinstance(subject, dict) else "",
        "summary": summarize(report),
        "text": text,
    }


class ChaosPanel:
    """Everything the Chaos tab shows and does, for one Locust environment."""

    def __init__(self, environment: Any, settings: PanelSettings) -> None:
        self.environment = environment
        self.settings = settings
        self.launch_target = settings.target_url
        self.error: str | None = None  # last start-form problem, shown on the page
        self.scenario_name = ""
        self.scenario_error: str | None = None
        # The controls' starting values, by fault kind: the scenario's fault of that kind.
        self.fault_defaults: dict[str, dict[str, int]] = {}
        checks, min_samples = self._load_checks()
        self.live = LiveMeasurements(checks, min_samples, settings.samples_file or None,
                                     lock_reports_available=bool(settings.lock_reports))
        client = (ToxiproxyClient(settings.toxiproxy_url, timeout=TOXIPROXY_TIMEOUT)
                  if settings.toxiproxy_url else None)
        urls = settings.slow_urls or [""] * len(settings.slow_proxies)
        self.proxies = ChaosProxies(
            client, settings.slow_proxies, urls, settings.target_url,
            command_members=lambda command: member_faults(self.environment).dispatch(command))
        self.form_latency = 0  # the start form's latency last applied
        self._thresholds: list[ThresholdStatus] = []
        self._thresholds_key: tuple[int, int, int] | None = None
        self._greenlet: gevent.Greenlet | None = None

    def _load_checks(self) -> tuple[list[Check], int]:
        """The scenario's checks (the defaults without one); its faults' values, if any."""
        if self.settings.scenario:
            try:
                scenario = load_scenario(Path(self.settings.scenario))
            except ScenarioError as exc:
                self.scenario_error = str(exc)
            else:
                self.scenario_name = scenario.name
                for fault in scenario.faults:
                    kind = FAULT_KINDS[fault.kind]
                    self.fault_defaults.setdefault(
                        kind.name, kind.values_of(fault.toxic().attributes))
                return list(scenario.thresholds.checks), scenario.thresholds.min_samples
        self.scenario_name = "default checks"
        return [parse_check(text) for text in DEFAULT_CHECKS], ThresholdSettings.min_samples

    # Life cycle.

    def attach(self) -> None:
        """Hook into Locust's events and start the refresh greenlet."""
        events = self.environment.events
        self.live.attach(events)
        events.test_start.add_listener(self._on_test_start)
        events.quitting.add_listener(self._on_quitting)
        self.refresh()
        self._greenlet = gevent.spawn(self._refresh_forever)

    def _refresh_forever(self) -> None:
        while True:
            gevent.sleep(REFRESH_INTERVAL)
            try:
                self.refresh()
            except Exception:  # the page must keep updating whatever one refresh hit
                logger.exception("Chaos tab refresh failed")

    def refresh(self) -> None:
        """Read new samples, the proxies' toxics, and re-evaluate the thresholds."""
        self.proxies.refresh()
        self.thresholds()

    def thresholds(self) -> list[ThresholdStatus]:
        """The checks on everything seen up to now (evaluated again only when that grew)."""
        self.live.refresh()
        key = (self.live.generation, len(self.live.samples), len(self.live.lock_reports))
        if key != self._thresholds_key:
            self._thresholds = self.live.thresholds()
            self._thresholds_key = key
        return self._thresholds

    def _on_quitting(self, **_: Any) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self.proxies.destroy_created()

    # Start-form parameters.

    def _on_test_start(self, **_: Any) -> None:
        """Apply the start form before users spawn: target URL, slow members, latency."""
        options = self.environment.parsed_options
        self.error = None
        _restart_member_slots(self.environment)
        if self.settings.slow_proxies:
            try:
                room_url, slow_urls = self.proxies.prepare(
                    int(getattr(options, "slow_members", len(self.proxies.members))),
                    str(getattr(options, "target_url", "") or ""), str(options.room_url))
                options.room_url, options.slow_urls = room_url, ",".join(slow_urls)
            except (ChaosError, ValueError, TypeError) as exc:
                self._fail(f"start form: {exc}")
        latency = self._form_latency()
        if latency:
            self.apply_form_latency(latency)
        self.form_latency = latency

    def _form_latency(self) -> int:
        try:
            return int(float(getattr(self.environment.parsed_options, "latency", 0) or 0))
        except (TypeError, ValueError):
            return 0

    def on_form_edited(self) -> None:
        """A running test was edited: apply the latency if it changed."""
        latency = self._form_latency()
        if latency != self.form_latency:
            self.apply_form_latency(latency)

    def apply_form_latency(self, latency: int) -> None:
        """Put ``latency`` ms on every active slow member's link (0: clear it)."""
        try:
            if latency > 0:
                self.proxies.set_latency(latency, 0)
            else:
                self.proxies.clear_latency()
            self.form_latency = latency
        except ChaosError as exc:
            self._fail(f"latency from the start form: {exc}")

    def _fail(self, message: str) -> None:
        self.error = message
        logger.warning("Chaos tab: %s", message)

    # Views.

    def target(self) -> dict[str, str]:
        url = self.proxies.target_url
        mode = self.settings.target_mode if url == self.launch_target else ""
        return {"mode": mode or "external", "url": url or "(not given: --target-url)",
                "lock_reports": self.settings.lock_reports or "(none)"}

    def swarm(self) -> dict[str, Any]:
        runner = self.environment.runner
        return {"state": str(getattr(runner, "state", "?")),
                "users": int(getattr(runner, "user_count", 0) or 0),
                "samples": len(self.live.samples)}

    def snapshot(self, since: int = 0, generation: int | None = None) -> dict[str, Any]:
        """The whole state as JSON; lock reports from index ``since`` on.

        When ``generation`` is not the current one (the lists restarted), every report is sent.
        """
        reports = self.live.lock_reports
        if generation != self.live.generation:
            since = 0
        since = max(0, min(since, len(reports)))
        return {
            "swarm": self.swarm(),
            "target": self.target(),
            "toxiproxy": {"url": self.proxies.url, "error": self.proxies.error},
            "error": self.error,
            "slow_members": [member.to_dict() for member in self.proxies.active_members()],
            "can_steer": self.proxies.client is not None and bool(self.proxies.members),
            "scenario": {"name": self.scenario_name, "error": self.scenario_error,
                         "min_samples": self.live.min_samples},
            "thresholds": [status.to_dict() for status in self.thresholds()],
            "lock_reports": {
                "generation": self.live.generation,
                "count": len(reports),
                "items": [report_item(index, reports[index])
                          for index in range(since, len(reports))],
            },
        }

    def set_fault(self, kind_name: Any, values: Any, proxy: str | None,
                  on: bool = True) -> list[str]:
        """Set (or with ``on`` False, clear) fault ``kind_name`` on the slow member behind
        ``proxy`` (every active one for None), through the nemesis: a toxic on its proxy, or
        for a member fault a command the members act out (:mod:`harness.loadgen.memberfaults`).

        Returns the proxies of the members changed.

        Raises:
            ChaosError: unknown kind or member, bad values, or Toxiproxy failed.
        """
        if on:
            return self.proxies.set_fault(kind_name, values, proxy)
        return self.proxies.clear_fault(kind_name, proxy)

    def fault_controls(self) -> list[dict[str, Any]]:
        """Every registered fault kind as the page builds its controls: params with bounds,
        starting from the scenario's values where it has a fault of that kind."""
        return [kind.to_dict(self.fault_defaults.get(kind.name)) for kind in FAULT_KINDS.values()]

    def tab_rows(self, controls_url: str) -> list[dict[str, str]]:
        """Rows of Locust's own Chaos tab (a read-only table)."""
        target, swarm = self.target(), self.swarm()
        rows = [
            _row("controls", "set or clear faults; lock-report stacks", "", controls_url),
            _row("target", target["mode"], target["url"],
                 f"lock reports: {target['lock_reports']}"),
            _row("swarm", swarm["state"], f"{swarm['users']} users",
                 f"{swarm['samples']} samples since the swarm started"),
        ]
        if self.proxies.error:
            rows.append(_row("toxiproxy", self.proxies.url or "-", "error", self.proxies.error))
        if self.error:
            rows.append(_row("problem", "", "error", self.error))
        for member in self.proxies.active_members():
            data = member.to_dict()
            rows.append(_row("slow member", f"{data['member']} via {member.proxy}",
                             data["toxics_text"], f"{member.listen} -> {member.upstream}"))
        for status in self.thresholds():
            rows.append(_row("threshold", status.check, status.label, status.detail))
        reports = self.live.lock_reports
        shown = min(len(reports), TAB_REPORTS)
        rows.append(_row("lock reports", str(len(reports)), "since the swarm started",
                         f"newest {shown} below; stacks on the Chaos page"))
        for index in range(len(reports) - 1, max(-1, len(reports) - 1 - TAB_REPORTS), -1):
            item = report_item(index, reports[index])
            rows.append(_row(f"lock report #{index + 1}", f"{item['kind']} on {item['lock']}",
                             f"{item['duration_ms']} ms",
                             f"{item['clock']} holder at {item['holder_site']}"))
        return rows


def _row(section: str, item: str, state: str, detail: str) -> dict[str, str]:
    return {"section": section, "item": item, "state": state, "detail": detail}


def _restart_member_slots(environment: Any) -> None:
    """Give a new swarm member slots from 0 again, so its first users are the slow ones.

    The master numbers members from a counter that lives as long as the process, which suits
    one headless run; in the web UI a second swarm would otherwise get no slow member at all.
    """
    from harness.loadgen.slots import slot_service

    slot_service(environment).restart()
