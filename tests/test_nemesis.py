"""The nemesis: one applier of every fault kind, with one naming and removal rule.

Proxy faults go on a real Toxiproxy; member faults are commands to a fake member channel
(the real channel is tested in test_stall and test_reconnect).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults import FAULT_KINDS
from harness.faults.latency import LatencyFault
from harness.faults.member_commands import MemberFaultCommand
from harness.faults.nemesis import Nemesis, NoMemberChannel, NoToxiproxy, toxic_name
from harness.faults.reconnect import ReconnectFault
from harness.faults.slicer import SlicerFault
from harness.target import PROJECT_ROOT
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.server import ToxiproxyNotFound, ToxiproxyServer, find_toxiproxy_server


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyClient]:
    try:
        find_toxiproxy_server(PROJECT_ROOT)
    except ToxiproxyNotFound as exc:
        pytest.skip(str(exc))
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as server:
        yield ToxiproxyClient(server.url, timeout=5.0)


def test_toxic_names_are_the_kind_and_its_position() -> None:
    assert toxic_name("latency") == "latency-0" and toxic_name("slicer", 2) == "slicer-2"


@pytest.mark.integration
def test_proxy_faults_go_on_by_name_update_in_place_and_lift_by_type(
        toxiproxy: ToxiproxyClient) -> None:
    for name in ("n-slow-0", "n-slow-1"):
        toxiproxy.create_proxy(name, "127.0.0.1:9")
    proxies = ["n-slow-0", "n-slow-1"]
    nemesis = Nemesis(toxiproxy, None)
    nemesis.apply([LatencyFault(300, 10), LatencyFault(5), SlicerFault(64)], proxies)
    for proxy in proxies:
        assert sorted((toxic["name"], toxic["type"]) for toxic in toxiproxy.list_toxics(proxy)) \
            == [("latency-0", "latency"), ("latency-1", "latency"), ("slicer-0", "slicer")]
    nemesis.apply([LatencyFault(100)], ["n-slow-0"])  # again: in place, not a second toxic
    latency = {toxic["name"]: toxic["attributes"] for toxic in toxiproxy.list_toxics("n-slow-0")}
    assert latency["latency-0"] == {"latency": 100, "jitter": 0}
    toxiproxy.add_toxic("n-slow-1", "someone-elses", "latency", attributes={"latency": 1})
    nemesis.lift([FAULT_KINDS["latency"]], proxies)  # every latency toxic, whoever added it
    for proxy in proxies:
        assert [toxic["name"] for toxic in toxiproxy.list_toxics(proxy)] == ["slicer-0"]
    nemesis.lift([FAULT_KINDS["slicer"], FAULT_KINDS["slicer"]], proxies)
    assert toxiproxy.list_toxics("n-slow-0") == toxiproxy.list_toxics("n-slow-1") == []


def test_member_faults_are_commands_and_need_a_channel() -> None:
    sent: list[MemberFaultCommand] = []
    nemesis = Nemesis(None, sent.append)
    nemesis.apply([ReconnectFault(500, 100)], ["never-touched"], members=(1,))
    nemesis.lift([FAULT_KINDS["reconnect"]], ["never-touched"])
    assert [(c.kind, c.on, c.members, c.settings) for c in sent] == [
        ("reconnect", True, (1,), {"interval": 500, "down": 100}),
        ("reconnect", False, None, None)]
    with pytest.raises(NoToxiproxy, match="no Toxiproxy"):
        nemesis.apply([LatencyFault(5)], ["p"])
    with pytest.raises(NoMemberChannel, match="reconnect"):
        Nemesis(None, None).apply([ReconnectFault()], [])
