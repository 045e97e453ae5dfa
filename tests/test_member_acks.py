"""Which members ack: against the bundled server in ``write`` delivery (it awaits no ack and
ignores any), roomchaos members send none unless the scenario's ``[protocol]`` says; in
``ack`` delivery, and against any other server, they ack as the protocol says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.rig.launched import LaunchedTarget, LaunchPlan, ReferenceTarget
from harness.rig.rig import Rig, RigOptions
from harness.scenario import load_scenario


def _rig(tmp_path: Path, target_table: str, protocol_table: str = "") -> Rig:
    path = tmp_path / "acks.toml"
    path.write_text(f'name = "acks"\n[target]\n{target_table}\n'
                    + (f"[protocol]\n{protocol_table}\n" if protocol_table else ""))
    return Rig(RigOptions(scenario=load_scenario(path), mode="fixed"), tmp_path, "acks")


@pytest.mark.parametrize(("delivery", "protocol_table", "acks"), [
    ("write", "", False),
    ("ack", "", None),
    ("write", "acks = true", True),  # the scenario's own word stands
])
def test_the_bundled_servers_write_delivery_gets_no_acks(
        tmp_path: Path, delivery: str, protocol_table: str, acks: bool | None) -> None:
    rig = _rig(tmp_path, f'delivery = "{delivery}"', protocol_table)
    rig.target = ReferenceTarget("fixed", tmp_path, delivery=delivery)
    description = json.loads(rig.members_protocol())
    assert description.get("acks") == acks
    assert description["kind"] == "roomchaos"


def test_a_server_of_the_users_own_gets_the_protocol_as_written(tmp_path: Path) -> None:
    rig = _rig(tmp_path, 'delivery = "write"')
    plan = LaunchPlan("myserver --port {port}", url="ws://127.0.0.1:{port}/ws")
    rig.target = LaunchedTarget(plan, tmp_path)
    assert "acks" not in json.loads(rig.members_protocol())
    rig.target = None  # --target-url: nothing launched
    assert "acks" not in json.loads(rig.members_protocol())
