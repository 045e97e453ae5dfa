"""harness.net.httpget: the one GET (deadline, one error rule) and the one readiness poller,
against real loopback HTTP servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.net.httpget import (
    HttpFailed,
    HttpTooLong,
    answers_200,
    get_json,
    get_ok,
    http_get,
    wait_until,
)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        routes = {"/ok": (200, b"fine"), "/json": (200, b'{"a": [1, 2]}'),
                  "/garbage": (200, b"{not json"), "/big": (200, b"x" * 300_000)}
        status, body = routes.get(self.path, (404, b"no such page"))
        if self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):  # a byte every 50 ms: each read is quick, the whole is not
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


def _answer_garbage(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection:
        connection.recv(4096)
        connection.sendall(b"not http at all\r\n\r\n")


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_any_status_is_an_answer_and_get_ok_wants_200(base: str) -> None:
    assert http_get(f"{base}/ok").status == 200
    missing = http_get(f"{base}/missing")
    assert (missing.status, missing.body) == (404, b"no such page")
    assert get_ok(f"{base}/ok") == b"fine"
    with pytest.raises(HttpFailed, match=r"^GET http://.*/missing: answered HTTP 404, not 200$"):
        get_ok(f"{base}/missing")


def test_json_and_not_json(base: str) -> None:
    assert get_json(f"{base}/json") == {"a": [1, 2]}
    with pytest.raises(HttpFailed, match="the answer is not JSON"):
        get_json(f"{base}/garbage")


def test_an_answer_over_max_bytes_is_refused_whole(base: str) -> None:
    assert len(get_ok(f"{base}/big", max_bytes=300_000)) == 300_000
    with pytest.raises(HttpTooLong, match="answered more than 1000 bytes"):
        get_ok(f"{base}/big", max_bytes=1000)


def test_no_answer_is_one_line_naming_the_url_and_cause(silent_port: int) -> None:
    refused = f"http://127.0.0.1:{_refused_port()}/x"
    with pytest.raises(HttpFailed) as caught:
        http_get(refused, timeout=2.0)
    assert str(caught.value) == f"GET {refused}: connection refused"
    assert caught.value.reason == "connection refused"
    hung = f"http://127.0.0.1:{silent_port}/x"
    start = time.monotonic()
    with pytest.raises(HttpFailed, match=f"^GET {hung}: timed out$"):
        http_get(hung, timeout=0.5)
    assert time.monotonic() - start < 0.5 + 3.0  # wide: the machine is shared
    with pytest.raises(HttpFailed, match="^GET nonsense: "):
        http_get("nonsense")
    not_http = socket.create_server(("127.0.0.1", 0))
    answering = threading.Thread(target=_answer_garbage, args=(not_http,), daemon=True)
    answering.start()
    with pytest.raises(HttpFailed, match=r"not an HTTP answer \(BadStatusLine: "):
        http_get(f"http://127.0.0.1:{not_http.getsockname()[1]}/", timeout=5.0)
    not_http.close()
    assert not answers_200(hung, timeout=0.3)
    assert not answers_200(refused)


def test_the_timeout_bounds_the_whole_answer_not_each_read(base: str) -> None:
    start = time.monotonic()
    with pytest.raises(HttpFailed, match="took longer than 0.5 s"):
        http_get(f"{base}/trickle", timeout=0.5)
    assert time.monotonic() - start < 0.5 + 3.0


def test_wait_until_returns_the_first_truthy_result() -> None:
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), timeout=5.0, interval=0.01,
                      timed_out=lambda: AssertionError("timed out")) == "ready"


def test_wait_until_names_a_death_at_once_and_times_out_with_the_callers_error() -> None:
    def dead() -> None:
        raise RuntimeError("the component died")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="died"):
        wait_until(lambda: False, timeout=30.0, still_alive=dead,
                   timed_out=lambda: AssertionError("timed out"))
    assert time.monotonic() - start < 5.0
    with pytest.raises(TimeoutError, match="not ready"):
        wait_until(lambda: False, timeout=0.2, interval=0.01,
                   timed_out=lambda: TimeoutError("not ready"))
