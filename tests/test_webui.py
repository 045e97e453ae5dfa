"""The web UI's Chaos tab: its parts, then the real thing in headless Chromium.

The first tests check the pieces in this process: fault values checked by their kind, toxic
descriptions, the fault controls' description, the proxies against a real toxiproxy-server,
live thresholds, and the Flask routes on a bare Flask app (Locust is not imported here:
importing it would monkey-patch the whole test session).

The browser tests run ``python -m harness ui`` as a separate process, drive Locust's web UI
with Selenium in Debian's headless Chromium (installed by ``make browser``, never downloaded),
and stop the command with SIGINT, checking that nothing it started is left running.
Screenshots go to ``results/webui/``.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.faults import FAULT_KINDS
from harness.target import PROJECT_ROOT
from harness.thresholds import parse_check
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.server import ToxiproxyNotFound, ToxiproxyServer, find_toxiproxy_server
from harness.webui.live import LiveMeasurements
from harness.webui.panel import ChaosPanel, PanelSettings, report_item
from harness.webui.proxies import ChaosError, ChaosProxies, describe_toxic
from harness.webui.routes import TAB_KEY, add_routes
from tests.missing_setup import skip_missing_setup
from tests.ui_command import UI_SCENARIO, UiCommand

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1250")
ARTIFACTS = PROJECT_ROOT / "results" / "webui"



# -- the parts ---------------------------------------------------------------------------------


def test_fault_values_are_checked_by_their_kind() -> None:
    latency = FAULT_KINDS["latency"]
    assert latency.edit({"latency": "500", "jitter": 50}).toxic().attributes == {
        "latency": 500, "jitter": 50}
    assert latency.edit({"latency": 250.0, "jitter": "0"}).toxic().attributes == {
        "latency": 250, "jitter": 0}
    for latency_ms, jitter_ms, words in [(0, 0, "from 1 to 60000"), ("x", 0, "whole number"),
                                         (1.5, 0, "whole"), (100, 200, "must not exceed"),
                                         (70000, 0, "60000"), (-5, 0, "from 1"),
                                         (True, 0, "whole number"), ("nan", 0, "whole number"),
                                         ("inf", 0, "whole number")]:
        with pytest.raises(ValueError, match=words):
            latency.edit({"latency": latency_ms, "jitter": jitter_ms})
    with pytest.raises(ValueError, match="has no parameter 'latncy'"):
        latency.edit({"latncy": 5})
    slicer = FAULT_KINDS["slicer"]
    assert slicer.edit({"average_size": 32, "size_variation": 8, "delay": 2000}).toxic() \
        .attributes == {"average_size": 32, "size_variation": 8, "delay": 2000}
    with pytest.raises(ValueError, match="below average_size"):
        slicer.edit({"average_size": 8, "size_variation": 8})
    with pytest.raises(ValueError, match="rate must be a whole number of KB/s from 1"):
        FAULT_KINDS["bandwidth"].edit({"rate": 0})


def test_every_fault_kind_describes_its_controls() -> None:
    """What the Chaos page builds its controls from: each kind's params, round-tripping."""
    for kind in FAULT_KINDS.values():
        described = kind.to_dict()
        assert described["kind"] == kind.name and described["where"] == kind.where
        defaults = {param["name"]: param["default"] for param in described["params"]}
        assert all({"label", "unit", "min", "max"} <= set(param)
                   for param in described["params"])
        toxic = kind.edit(defaults).toxic()  # the defaults are valid values
        assert toxic.type == kind.toxic_type
        assert kind.values_of(toxic.attributes) == defaults  # and come back from the toxic
    # A scenario's values start the controls, unless the control could not send them.
    described = FAULT_KINDS["latency"].to_dict({"latency": 0, "jitter": 0})
    assert [param["default"] for param in described["params"]] == [500, 0]


def test_toxics_read_like_the_scenario() -> None:
    latency = {"type": "latency", "stream": "downstream", "toxicity": 1,
               "attributes": {"latency": 500, "jitter": 50}}
    assert describe_toxic(latency) == "latency 500 ms ± 50 ms downstream"
    assert describe_toxic({"type": "bandwidth", "stream": "upstream",
                           "attributes": {"rate": 64}}) == "bandwidth 64 KB/s upstream"
    assert describe_toxic({"type": "slicer", "stream": "downstream", "attributes": {
        "average_size": 64, "size_variation": 16, "delay": 1000}}) == (
        "slicer average_size 64 bytes size_variation 16 bytes delay 1000 µs downstream")
    assert describe_toxic({"type": "timeout", "stream": "downstream", "toxicity": 0.5,
                           "attributes": {"timeout": 0}}) == (
        "timeout timeout=0 (toxicity 0.5) downstream")


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyClient]:
    try:
        find_toxiproxy_server(PROJECT_ROOT)
    except ToxiproxyNotFound as exc:
        skip_missing_setup(str(exc))
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as server:
        yield ToxiproxyClient(server.url, timeout=5.0)


def _proxies(client: ToxiproxyClient, upstream_port: int = 9) -> ChaosProxies:
    info = client.create_proxy("t-slow-0", f"127.0.0.1:{upstream_port}")
    client.create_proxy("t-fast", f"127.0.0.1:{upstream_port}")
    return ChaosProxies(client, ["t-slow-0"], [f"ws://127.0.0.1:{info.listen_port}/ws"],
                        f"ws://127.0.0.1:{upstream_port}/ws")


@pytest.mark.integration
def test_proxies_set_update_and_clear_latency(toxiproxy: ToxiproxyClient) -> None:
    proxies = _proxies(toxiproxy)
    assert proxies.set_latency(500, 50) == ["t-slow-0"]
    assert [m.to_dict()["toxics_text"] for m in proxies.members] == [
        "latency 500 ms ± 50 ms downstream"]
    proxies.set_latency("200", "0", proxy="t-slow-0")  # updated in place, not a second toxic
    [toxic] = toxiproxy.list_toxics("t-slow-0")
    assert toxic["attributes"] == {"latency": 200, "jitter": 0}
    toxiproxy.add_toxic("t-slow-0", "someone-elses", "latency", attributes={"latency": 5})
    assert proxies.clear_latency() == ["t-slow-0"]  # every latency toxic goes
    assert toxiproxy.list_toxics("t-slow-0") == []
    assert proxies.members[0].to_dict()["toxics_text"] == "none"
    with pytest.raises(ChaosError, match="not the proxy of an active slow member") as caught:
        proxies.set_latency(100, 0, proxy="t-fast")
    assert caught.value.status == 404


@pytest.mark.integration
def test_proxies_set_and_clear_a_slicer_like_any_kind(toxiproxy: ToxiproxyClient) -> None:
    proxies = _proxies(toxiproxy)
    proxies.set_latency(100, 0)
    assert proxies.set_fault("slicer", {"average_size": 32, "size_variation": 8,
                                        "delay": 500}) == ["t-slow-0"]
    slicer = next(toxic for toxic in toxiproxy.list_toxics("t-slow-0")
                  if toxic["type"] == "slicer")
    assert slicer["name"] == "slicer-0" and slicer["stream"] == "downstream"
    assert slicer["attributes"] == {"average_size": 32, "size_variation": 8, "delay": 500}
    proxies.set_fault("slicer", {"average_size": 16, "delay": 0}, proxy="t-slow-0")  # in place
    assert [toxic["attributes"] for toxic in toxiproxy.list_toxics("t-slow-0")
            if toxic["type"] == "slicer"] == [{"average_size": 16, "size_variation": 0,
                                                "delay": 0}]
    assert "slicer average_size 16 bytes" in proxies.members[0].to_dict()["toxics_text"]
    for kind, values, words in [("slicer", {"average_size": 0}, "average_size must be"),
                                ("freeze", {}, "unknown fault kind 'freeze'"),
                                ("slicer", [1], "params must be an object")]:
        with pytest.raises(ChaosError, match=words) as caught:
            proxies.set_fault(kind, values)  # type: ignore[arg-type]
        assert caught.value.status == 400
    # A member fault is a command to the members: without a channel to them, a 409.
    with pytest.raises(ChaosError, match="nothing carries the member fault 'stall'") as caught:
        proxies.set_fault("stall", {})
    assert caught.value.status == 409
    assert proxies.clear_fault("slicer") == ["t-slow-0"]  # only the slicer goes
    assert [toxic["type"] for toxic in toxiproxy.list_toxics("t-slow-0")] == ["latency"]


@pytest.mark.integration
def test_start_form_adds_slow_members_and_repoints_the_target(
        toxiproxy: ToxiproxyClient) -> None:
    proxies = _proxies(toxiproxy)
    fast = toxiproxy.list_proxies()["t-fast"]["listen"].rpartition(":")[2]
    room_url, slow_urls = proxies.prepare(3, "", f"ws://127.0.0.1:{fast}/ws")
    assert len(slow_urls) == 3 and room_url == f"ws://127.0.0.1:{fast}/ws"
    assert proxies.created == ["t-slow-1", "t-slow-2"]
    room_url, slow_urls = proxies.prepare(1, "ws://127.0.0.1:7/room", room_url)
    assert room_url == f"ws://127.0.0.1:{fast}/room" and slow_urls[0].endswith("/room")
    listing = toxiproxy.list_proxies()
    assert {listing[name]["upstream"] for name in ("t-fast", "t-slow-0", "t-slow-1")} == {
        "127.0.0.1:7"}
    assert [m.proxy for m in proxies.active_members()] == ["t-slow-0"]
    with pytest.raises(ChaosError, match="loopback"):
        proxies.prepare(1, "ws://10.1.2.3:80/ws", room_url)
    proxies.destroy_created()
    assert sorted(toxiproxy.list_proxies()) == ["t-fast", "t-slow-0"]


@pytest.mark.integration
def test_start_form_repoints_fast_members_that_dial_the_target(
        toxiproxy: ToxiproxyClient) -> None:
    """With [network] fast_members = "direct" the room URL is the target's own: a new target
    becomes the new room URL, and the slow members' proxies are re-pointed as usual."""
    proxies = _proxies(toxiproxy)
    room_url, slow_urls = proxies.prepare(1, "", "ws://127.0.0.1:9/ws")
    assert room_url == "ws://127.0.0.1:9/ws"
    room_url, slow_urls = proxies.prepare(1, "ws://127.0.0.1:7/room", room_url)
    assert room_url == "ws://127.0.0.1:7/room" and slow_urls[0].endswith("/room")
    assert toxiproxy.list_proxies()["t-slow-0"]["upstream"] == "127.0.0.1:7"
    proxies.destroy_created()


class FakeEvents:
    """Just enough of Locust's events for the panel: ``add_listener`` and ``fire``."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[..., Any]]] = {}

    def __getattr__(self, name: str) -> SimpleNamespace:
        hooks = self.listeners.setdefault(name, [])
        return SimpleNamespace(add_listener=hooks.append,
                               fire=lambda **kwargs: [hook(**kwargs) for hook in hooks])


def _report(duration_s: float = 0.6) -> dict[str, Any]:
    party = {"name": "task-7", "ident": "7", "mode": "shared",
             "acquire_site": "targets/roomserver/modes/naive.py:23 in broadcast",
             "acquire_stack": ["naive.py:23 in broadcast"], "current_stack": ["naive.py:30"]}
    return {"kind": "wait", "lock": "room:room-0.members", "duration_s": duration_s,
            "time": time.time(), "subject": dict(party, acquire_site="rooms.py:40 in join"),
            "holders": [party]}


def test_live_thresholds_follow_samples_and_lock_reports(tmp_path: Path) -> None:
    samples_file = tmp_path / "samples.jsonl"
    checks = [parse_check("join[fast].p99 < 250ms"), parse_check("lock_reports == 0")]
    live = LiveMeasurements(checks, 5, str(samples_file))
    events = FakeEvents()
    live.attach(events)
    assert {s.label for s in live.thresholds()} == {"not enough data yet"}

    def write(latency_ms: float, count: int) -> None:
        with open(samples_file, "a") as lines:
            for _ in range(count):
                lines.write(json.dumps({"time": time.time(), "op": "join", "member_kind": "fast",
                                        "latency_ms": latency_ms, "ok": True}) + "\n")

    write(20, 10)
    live.refresh()
    assert [s.status for s in live.thresholds()] == ["holding", "holding"]
    events.request.fire(request_type="LOCK", name="wait", response_time=600,
                        context={"report": _report()})
    write(900, 5)
    live.refresh()
    statuses = live.thresholds()
    assert [s.status for s in statuses] == ["broken", "broken"]
    assert statuses[1].detail == "lock_reports = 1 (limit == 0)"
    events.test_start.fire()  # a new swarm starts from nothing
    live.refresh()
    assert live.samples == [] and live.lock_reports == [] and live.generation == 1
    assert {s.status for s in live.thresholds()} == {"no_data"}


def test_report_items_carry_the_stacks() -> None:
    item = report_item(0, _report(0.512))
    assert item["duration_ms"] == 512 and item["kind"] == "wait"
    assert item["holder_site"].endswith("naive.py:23 in broadcast")
    assert "POTENTIAL DEADLOCK" in item["text"] and "naive.py:23" in item["text"]
    assert report_item(1, {"kind": "odd"})["text"]  # unreadable reports still show


class FakeEnvironment:
    """Locust's Environment as far as the panel uses it (hashable and weakly referable, like
    the real one)."""

    def __init__(self, *, events: Any, parsed_options: Any, runner: Any) -> None:
        self.events, self.parsed_options, self.runner = events, parsed_options, runner


def _web_ui(panel: ChaosPanel) -> Any:
    """A bare Flask app standing in for Locust's, with Locust's stats route and names."""
    from flask import Blueprint, Flask, jsonify

    app = Flask(__name__)
    locust = Blueprint("locust", __name__)

    @locust.route("/stats/requests")
    def request_stats() -> Any:
        return jsonify({"stats": []})

    app.register_blueprint(locust)
    web_ui = SimpleNamespace(app=app, template_args={},
                             auth_required_if_enabled=lambda view: view)
    add_routes(panel, web_ui)
    return web_ui


@pytest.mark.integration
def test_routes_serve_the_page_the_state_and_the_controls(
        toxiproxy: ToxiproxyClient, tmp_path: Path) -> None:
    proxies = _proxies(toxiproxy)
    scenario = tmp_path / "ui.toml"
    scenario.write_text(UI_SCENARIO)
    options = SimpleNamespace(
        toxiproxy_url=toxiproxy.url, slow_proxies="t-slow-0", slow_urls=proxies.members[0].url,
        room_url="ws://127.0.0.1:1/ws", target_url="ws://127.0.0.1:9/ws", target_mode="naive",
        lock_reports="http://127.0.0.1:9/debug/locks", scenario=str(scenario), samples_file="")
    sent: list[tuple[str, Any]] = []  # Locust custom messages (member faults)
    environment = FakeEnvironment(events=FakeEvents(), parsed_options=options,
                                  runner=SimpleNamespace(
                                      state="running", user_count=6,
                                      send_message=lambda kind, data: sent.append((kind, data))))
    panel = ChaosPanel(environment, PanelSettings.from_options(options))
    panel.live.attach(environment.events)
    web_ui = _web_ui(panel)
    assert web_ui.template_args["extended_tabs"] == [{"title": "Chaos", "key": TAB_KEY}]
    client = web_ui.app.test_client()

    page = client.get("/chaos")
    assert page.status_code == 200 and b"chaos/static/chaos.js" in page.data
    assert client.get("/chaos/static/chaos.js").status_code == 200

    kinds = {kind["kind"]: kind for kind in client.get("/chaos/faults").json["kinds"]}
    assert set(kinds) == set(FAULT_KINDS)
    latency_params = {param["name"]: param for param in kinds["latency"]["params"]}
    assert latency_params["latency"]["default"] == 500  # the scenario's fault
    assert latency_params["jitter"]["default"] == 20 and latency_params["jitter"]["unit"] == "ms"
    assert [param["name"] for param in kinds["slicer"]["params"]] == [
        "average_size", "size_variation", "delay"]

    answer = client.post("/chaos/api/fault", json={"kind": "latency",
                                                   "params": {"latency": 500, "jitter": 20}})
    assert answer.status_code == 200 and answer.json["changed"] == ["t-slow-0"]
    assert answer.json["message"] == "latency set on t-slow-0"
    refused = client.post("/chaos/api/fault", json={"kind": "latency",
                                                    "params": {"latency": 500}},
                          headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    bad = client.post("/chaos/api/fault", json={"kind": "latency", "params": {"latency": "soon"}})
    assert bad.status_code == 400 and "latency must be a whole number of ms" in bad.json["error"]
    assert client.post("/chaos/api/fault", json={"kind": "nope"}).status_code == 400
    assert client.post("/chaos/api/clear", data="x").status_code == 400
    sliced = client.post("/chaos/api/fault", json={
        "kind": "slicer", "proxy": "t-slow-0",
        "params": {"average_size": 64, "size_variation": 0, "delay": 100}})
    assert sliced.json["message"] == "slicer set on t-slow-0"
    assert client.post("/chaos/api/clear", json={"kind": "slicer"}).json["ok"]
    # A member fault goes to the members (Locust's custom message), not to Toxiproxy.
    stalled = client.post("/chaos/api/fault", json={"kind": "stall", "proxy": "t-slow-0"})
    assert stalled.json["message"] == "stall set on t-slow-0"
    assert [(kind, data["kind"], data["on"], data["members"]) for kind, data in sent] == [
        ("room_member_fault", "stall", True, [0])]
    assert client.post("/chaos/api/clear", json={"kind": "stall"}).json["ok"]
    assert (sent[-1][1]["on"], sent[-1][1]["members"]) == (False, None)
    assert not any(toxic["type"] == "stall" for toxic in toxiproxy.list_toxics("t-slow-0"))

    environment.events.request.fire(request_type="LOCK", name="wait", response_time=600,
                                    context={"report": _report()})
    panel.refresh()
    state = client.get("/chaos/api/state").json
    assert state["target"] == {"mode": "naive", "url": "ws://127.0.0.1:9/ws",
                               "lock_reports": "http://127.0.0.1:9/debug/locks"}
    assert state["slow_members"][0]["toxics_text"] == "latency 500 ms ± 20 ms downstream"
    assert state["scenario"]["name"] == "ui-short"
    assert state["lock_reports"]["count"] == 1 and len(state["lock_reports"]["items"]) == 1
    later = client.get("/chaos/api/state?since=1&generation=0").json
    assert later["lock_reports"]["items"] == []

    rows = client.get("/stats/requests").json["extended_stats"][0]
    assert rows["key"] == TAB_KEY
    sections = [row["section"] for row in rows["data"]]
    assert sections[:3] == ["controls", "target", "swarm"]
    assert "lock report #1" in sections and sections.count("threshold") == 3
    assert rows["data"][0]["detail"].endswith("/chaos")

    cleared = client.post("/chaos/api/clear", json={"kind": "latency", "proxy": "*"}).json
    assert cleared["ok"] and cleared["message"] == "latency cleared on t-slow-0"
    assert toxiproxy.list_toxics("t-slow-0") == []


# -- the real thing in a browser ---------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through chromedriver; a fresh profile per test."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed: run `make browser` (apt-get install chromium "
                    "chromium-driver); tests never download a browser")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Callable[[Any], Any], timeout: float, what: str) -> Any:
    """Wait for ``condition``; the page re-renders parts every second, so stale is retried."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25,
                             ignored_exceptions=[StaleElementReferenceException]).until(condition)
    except TimeoutException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "failure.png"))
        pytest.fail(f"gave up after {timeout:g} s waiting for {what} "
                    f"(screenshot: {ARTIFACTS / 'failure.png'})")


def _by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _text(driver: Any, selector: str) -> str:
    """The text of ``selector``, read again if the page re-rendered it meanwhile."""
    return str(_wait(driver, lambda d: _by_css(d, selector).text or " ", 5, selector))


def _lock_count(driver: Any) -> int:
    return int(_text(driver, "#lock-count").strip() or 0)


def start_swarm_and_open_chaos_tab(driver: Any, url: str, mode: str) -> None:
    """Start the swarm from Locust's start form; open the Chaos tab in Locust's tab bar."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "form button[type=submit]"),
          30, "Locust's start form")
    fields = {field.get_attribute("name"): field.get_attribute("value")
              for field in driver.find_elements(By.CSS_SELECTOR, "form input")}
    assert fields["userCount"] == "6" and fields["slowMembers"] == "1"  # from the scenario
    assert fields["latency"] == "0" and fields["targetUrl"].startswith("ws://127.0.0.1:")
    _by_css(driver, "form button[type=submit]").click()
    tab = _wait(driver, lambda d: next((t for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]")
                                        if t.text.strip().upper() == "CHAOS"), None),
                30, "the Chaos tab in Locust's tab bar")
    tab.click()
    _wait(driver, lambda d: "slow member" in d.find_element(By.TAG_NAME, "body").text
          and mode in d.find_element(By.TAG_NAME, "body").text, 20,
          "the Chaos tab's rows (target mode, slow member)")
    assert "tab=chaos" in driver.current_url


def open_chaos_page(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/chaos")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#members tr[data-proxy]"), 20,
          "the slow members on the Chaos page")
    _wait(driver, lambda d: _by_css(d, "#swarm-state").text == "RUNNING", 20, "a running swarm")


def _all_controls(kind: str) -> str:
    """CSS selector of the page's controls of fault ``kind`` for every slow member."""
    return f'#all-controls .fault[data-kind="{kind}"]'


def set_fault(driver: Any, kind: str, values: dict[str, int], shows: str) -> None:
    """Fill ``kind``'s controls for all slow members, Set, and wait for ``shows`` in the
    members' toxics."""
    for name, value in values.items():
        field = _by_css(driver, f'{_all_controls(kind)} input[name="{name}"]')
        field.clear()
        field.send_keys(str(value))
    _by_css(driver, f"{_all_controls(kind)} button.set").click()
    _wait(driver, lambda d: f"{kind} set on" in _by_css(d, "#action-message").text, 15,
          f"the {kind} fault to be set")
    _wait(driver, lambda d: shows in _by_css(d, "#members tbody .toxics").text, 10,
          "the toxic to show on the slow member")


def clear_fault(driver: Any, kind: str) -> None:
    _by_css(driver, f"{_all_controls(kind)} button.clear").click()
    _wait(driver, lambda d: f"{kind} cleared on" in _by_css(d, "#action-message").text, 15,
          f"the {kind} fault to be cleared")
    _wait(driver, lambda d: kind not in _by_css(d, "#members tbody .toxics").text, 10,
          "the toxic to be gone")


def set_latency(driver: Any, latency_ms: int, jitter_ms: int) -> None:
    set_fault(driver, "latency", {"latency": latency_ms, "jitter": jitter_ms},
              f"latency {latency_ms} ms")


def clear_latency(driver: Any) -> None:
    clear_fault(driver, "latency")


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    return path


@pytest.mark.integration
def test_naive_lock_reports_come_with_latency_and_stop_without(
        ui_command: Callable[[str], UiCommand], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    command = ui_command("naive")
    url = command.wait_for_url()
    start_swarm_and_open_chaos_tab(browser, url, "naive")
    open_chaos_page(browser, url)
    assert _text(browser, "#target-mode") == "naive"
    time.sleep(2)  # past the spawn burst
    before = _lock_count(browser)

    set_latency(browser, 500, 20)
    started = time.monotonic()
    # Several: one could be a scheduling hiccup of a busy machine; the bug makes many.
    _wait(browser, lambda d: _lock_count(d) >= before + 3, 30, "lock reports within 30 s")
    print(f"3 lock reports {time.monotonic() - started:.1f} s after setting latency")
    report = _by_css(browser, "#lock-reports details.report")
    assert "room:room-0.members" in report.text and "holder at" in report.text
    report.click()
    assert "POTENTIAL DEADLOCK" in report.find_element(By.TAG_NAME, "pre").text  # the stacks
    _wait(browser, lambda d: "broken" in _by_css(
        d, '#thresholds tr[data-check="lock_reports == 0"]').text, 10, "lock_reports broken")
    screenshot(browser, "chaos-page-naive-latency.png")

    browser.get(url + "/?tab=failures")  # LockFeed's LOCK failures in Locust's own tab
    _wait(browser, lambda d: "LOCK" in d.find_element(By.TAG_NAME, "body").text, 20,
          "LOCK failures in Locust's Failures tab")

    open_chaos_page(browser, url)
    clear_latency(browser)
    time.sleep(3)  # reports of waits already under way when the toxic went still arrive
    settled = _lock_count(browser)
    time.sleep(10)
    assert _lock_count(browser) == settled, "new lock reports after the latency was cleared"
    screenshot(browser, "chaos-page-naive.png")
    browser.get(url + "/?tab=chaos")
    _wait(browser, lambda d: "lock report #" in d.find_element(By.TAG_NAME, "body").text, 20,
          "lock reports in Locust's Chaos tab")
    screenshot(browser, "chaos-tab-naive.png")

    assert command.stop(signal.SIGINT) == 130, "".join(command.output)
    command.assert_nothing_left()


@pytest.mark.integration
def test_fixed_shows_no_lock_report(ui_command: Callable[[str], UiCommand],
                                    browser: Any) -> None:
    command = ui_command("fixed")
    url = command.wait_for_url()
    start_swarm_and_open_chaos_tab(browser, url, "fixed")
    open_chaos_page(browser, url)
    set_latency(browser, 500, 20)
    time.sleep(15)
    assert _lock_count(browser) == 0
    assert "holding" in _text(browser, '#thresholds tr[data-check="lock_reports == 0"]')
    clear_latency(browser)
    # A kind the web UI has no code for: its controls come from /chaos/faults.
    set_fault(browser, "slicer", {"average_size": 64, "size_variation": 16, "delay": 1000},
              "slicer average_size 64 bytes size_variation 16 bytes delay 1000 µs downstream")
    screenshot(browser, "chaos-page-fixed-slicer.png")
    clear_fault(browser, "slicer")
    screenshot(browser, "chaos-page-fixed.png")
    assert command.stop(signal.SIGINT) == 130, "".join(command.output)
    command.assert_nothing_left()


@pytest.mark.integration
def test_sigterm_stops_everything(ui_command: Callable[[str], UiCommand]) -> None:
    command = ui_command("naive")
    url = command.wait_for_url()
    with socket.create_connection(("127.0.0.1", int(url.rpartition(":")[2])), timeout=5):
        pass
    assert command.stop(signal.SIGTERM) == 143, "".join(command.output)
    command.assert_nothing_left()


@pytest.mark.parametrize("network", ["", '\n[network]\nsocket_buffer = "64KiB"\n'])
def test_busy_port_is_one_line_and_starts_nothing(tmp_path: Path, network: str) -> None:
    scenario = tmp_path / "ui.toml"
    scenario.write_text(UI_SCENARIO + network)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "harness", "ui", str(scenario), "--port", str(port),
             "--results-dir", str(tmp_path / "results")],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert time.monotonic() - started < 30
    lines = completed.stderr.strip().splitlines()
    if network:  # small socket buffers need a namespace, which the web UI never uses: said
        notice = lines.pop(0)
        assert notice == ("harness: no network namespace (the web UI session never runs in "
                          "one); socket buffers stay the machine's, [load] body_size fills them")
    assert len(lines) == 1 and f"127.0.0.1:{port} is already in use" in lines[0], lines
    assert "--port 0" in lines[0]
    assert not (tmp_path / "results").exists()  # nothing was started
