"""A user's class is held to the contract when the scenario is read (docs/protocols.md).

An abstract method left undefined, a method that returns the wrong type, or one that raises
on ordinary input: one line naming the method, exit code 2, nothing started, no traceback.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.protocols import check_protocol
from tests.test_protocol_json import refused_in_one_line

MODULE = textwrap.dedent('''
    from harness.protocols import ClientProtocol, Other


    class Good(ClientProtocol):
        name = "good"
        confirms_join = confirms_broadcast = confirms_leave = False

        def join_frame(self, room, member):
            return "join " + room

        def leave_frame(self, room):
            return "leave"

        def broadcast_frame(self, room, message_id, body, sent_at):
            return f"say {message_id}"

        def ack_frame(self, message):
            return None

        def classify(self, raw):
            return Other("anything", raw)


    class NoClassify(ClientProtocol):
        name = "no-classify"

        def join_frame(self, room, member):
            return "j"

        def leave_frame(self, room):
            return None

        def broadcast_frame(self, room, message_id, body, sent_at):
            return "b"

        def ack_frame(self, message):
            return None


    class DictFrames(Good):
        def broadcast_frame(self, room, message_id, body, sent_at):
            return {"say": body}


    class ClassifyReturnsText(Good):
        def classify(self, raw):
            return "joined"


    class ClassifyRaises(Good):
        def classify(self, raw):
            return Other("x", raw[0])


    class NoJoinFrame(Good):
        def join_frame(self, room, member):
            return None


    class OpenedNotAList(Good):
        def opened(self, room, member):
            return "hello"


    class ManyEvents(Good):
        def classify(self, raw):
            return [Other("a", raw), Other("b", raw)]
''')

CASES = [
    ("NoClassify", "protocol userproto:NoClassify does not define classify (abstract in "
                   "ClientProtocol)"),
    ("DictFrames", "protocol userproto:DictFrames.broadcast_frame returned dict"),
    ("ClassifyReturnsText", "protocol userproto:ClassifyReturnsText.classify returned str"),
    ("ClassifyRaises", "protocol userproto:ClassifyRaises.classify raised IndexError"),
    ("NoJoinFrame", "protocol userproto:NoJoinFrame.join_frame returned None but "
                    "joins_by_connect is False"),
    ("OpenedNotAList", "protocol userproto:OpenedNotAList.opened returned str"),
]


@pytest.fixture()
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "userproto.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.mark.parametrize("name, problem", CASES)
def test_a_class_that_breaks_the_contract_is_refused_naming_the_method(
        modules: Path, name: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_protocol({"kind": f"userproto:{name}"})
    assert problem in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value) and "docs/protocols.md" in str(caught.value)


def test_a_class_that_keeps_the_contract_passes(modules: Path) -> None:
    check_protocol({"kind": "userproto:Good"})
    check_protocol({"kind": "userproto:ManyEvents"})  # several events from one frame
    check_protocol({"kind": "tests.binaryprotocol:BinaryRooms"})  # binary frames


def test_harness_run_refuses_it_in_one_line_with_exit_2(modules: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n[load]\nmembers = 2\n[timing]\nwarmup = "2s"\n'
                    '[thresholds]\nchecks = ["errors.ratio < 0.01"]\n'
                    '[protocol]\nkind = "userproto:DictFrames"\n')
    line = refused_in_one_line(tmp_path, path, "ws://127.0.0.1:9/ws", pythonpath=modules)
    assert "[protocol] protocol userproto:DictFrames.broadcast_frame returned dict" in line, line
