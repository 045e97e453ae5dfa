"""harness.checker.not_tested: what the failures of a check that saw nothing have in common."""

from __future__ import annotations

import pytest

from harness.checker.not_tested import cause_of, one_line


@pytest.mark.parametrize(("error", "cause"), [
    ("connect ws://127.0.0.1:4/chat?room=r&user=fast-0: Handshake status 403 Forbidden "
     "-+-+- {'content-length': '9'} -+-+- b'forbidden'", "got HTTP 403"),
    ("target ws://x/ws refused the WebSocket handshake (HTTP 401); check the path",
     "got HTTP 401"),
    ("connection closed (WebSocketConnectionClosedException: closed by server (code 3501: "
     "join refused)), status 101", "closed with code 3501 (join refused)"),
    ("connection closed (WebSocketConnectionClosedException: closed by server (code 1006))",
     "closed with code 1006"),
    ("no 'joined' reply within 15 s", "got no 'joined' reply within 15 s"),
    ('expected \'joined\', got {"type": "error", "code": "unknown_type"}',
     "got a reply other than 'joined'"),
    ("unfinished", "never finished"),
    ("timeout", "timed out"),
    (None, "failed"),
    ("connect ws://127.0.0.1:1/: [Errno 111] Connection refused",
     "failed: connect ws://127.0.0.1:1/: [Errno 111] Connection refused"),
    ("x" * 100, "failed: " + "x" * 79 + "…"),
])
def test_a_cause_is_the_same_words_for_every_failure_of_its_kind(error: str | None,
                                                                 cause: str) -> None:
    assert cause_of(error) == cause


def test_handshake_detail_and_line_breaks_are_dropped() -> None:
    assert one_line("Handshake status 403 Forbidden -+-+- {'a': 'b'}\n -+-+- b'x'") == (
        "Handshake status 403 Forbidden")
    assert one_line("two\nlines") == "two lines"
