"""Integration tests for the Toxiproxy launcher and adapter, against the real toxiproxy-server.

Tests that need the binary skip (with the install hint; under CI they fail) when toxiproxy-server
2.12.0 is missing.
"""

from __future__ import annotations

import os
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.toxiproxy import server as toxiproxy_server
from harness.toxiproxy.client import (
    ToxiproxyApiError,
    ToxiproxyClient,
    ToxiproxyTimeout,
    ToxiproxyUnavailable,
)
from harness.toxiproxy.server import (
    ToxiproxyNotFound,
    ToxiproxyServer,
    ToxiproxyStartError,
    find_toxiproxy_server,
)
from tests.missing_setup import skip_missing_setup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def _binary_or_skip() -> Path:
    try:
        return find_toxiproxy_server(ROOT)
    except ToxiproxyNotFound as exc:
        skip_missing_setup(str(exc))


def _gone(pid: int, within: float = 2.0) -> bool:
    """True once no process is left in the process group led by `pid` (waits up to `within`)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _fake_binary(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    binary = _binary_or_skip()
    log = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with ToxiproxyServer(log, binary) as srv:
        yield srv


@pytest.fixture
def client(server: ToxiproxyServer) -> Iterator[ToxiproxyClient]:
    tp = ToxiproxyClient(server.url, timeout=5.0)
    yield tp
    tp.destroy_all()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_port() -> Iterator[int]:
    srv = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _echo_seconds(port: int, payload: bytes = b"ping\n") -> float:
    """Seconds from sending `payload` through 127.0.0.1:`port` to receiving it back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(4096)
            assert chunk, "connection closed before the echo came back"
            received += chunk
        elapsed = time.monotonic() - start
    assert received == payload
    return elapsed


class _SilentHttpServer:
    """Accepts TCP connections and never answers: a hung Toxiproxy API."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_api() -> Iterator[_SilentHttpServer]:
    srv = _SilentHttpServer()
    yield srv
    srv.close()


# -- launcher ---------------------------------------------------------------------------------


def test_server_starts_on_free_port_and_stops_leaving_no_process(tmp_path: Path) -> None:
    binary = _binary_or_skip()
    srv = ToxiproxyServer(tmp_path / "tp.log", binary)
    with srv:
        assert srv.alive()
        assert srv.url == f"http://127.0.0.1:{srv.port}"
        assert ToxiproxyClient(srv.url).version() == "2.12.0"
        pid = srv.pid
    assert not srv.alive()
    assert srv.returncode() is not None
    assert _gone(pid)
    srv.stop()  # idempotent


def test_two_servers_at_once_get_different_ports(tmp_path: Path) -> None:
    binary = _binary_or_skip()
    with (
        ToxiproxyServer(tmp_path / "a.log", binary) as first,
        ToxiproxyServer(tmp_path / "b.log", binary) as second,
    ):
        assert first.port != second.port
        assert first.pid != second.pid
        a, b = ToxiproxyClient(first.url), ToxiproxyClient(second.url)
        a.create_proxy("only-on-a", "127.0.0.1:9")
        assert list(a.list_proxies()) == ["only-on-a"]
        assert b.list_proxies() == {}
        pids = (first.pid, second.pid)
    assert all(_gone(pid) for pid in pids)


def test_server_retries_when_its_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _binary_or_skip()
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken: int = squatter.getsockname()[1]
        ports = iter([taken])
        real_pick = toxiproxy_server._pick_free_port
        monkeypatch.setattr(toxiproxy_server, "_pick_free_port", lambda: next(ports, real_pick()))
        with ToxiproxyServer(tmp_path / "tp.log", binary) as srv:
            assert srv.port != taken
            assert ToxiproxyClient(srv.url).version() == "2.12.0"
    assert "address already in use" in (tmp_path / "tp.log").read_text()


def test_server_that_never_listens_fails_within_startup_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _fake_binary(tmp_path / "toxiproxy-server", f"echo $$ > {pid_file}; exec sleep 60")
    srv = ToxiproxyServer(tmp_path / "tp.log", fake, startup_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ToxiproxyStartError, match="did not answer"):
        srv.start()
    assert time.monotonic() - start < 6.0
    assert _gone(int(pid_file.read_text()))


def test_server_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _fake_binary(
        tmp_path / "toxiproxy-server",
        f"trap '' TERM; echo $$ > {pid_file}; while :; do sleep 0.1; done",
    )
    srv = ToxiproxyServer(tmp_path / "tp.log", fake, startup_timeout=0.5, stop_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(ToxiproxyStartError):
        srv.start()
    assert time.monotonic() - start < 5.0
    assert _gone(int(pid_file.read_text()))


def test_server_that_exits_is_retried_then_reported(tmp_path: Path) -> None:
    fake = _fake_binary(tmp_path / "toxiproxy-server", "exit 3")
    with pytest.raises(ToxiproxyStartError, match=r"after 4 attempts.*exited with status 3"):
        ToxiproxyServer(tmp_path / "tp.log", fake, retries=3).start()


def test_missing_binary_raises_not_found_with_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToxiproxyNotFound, match=r"make install.*toxiproxy-server 2\.12\.0 on PATH"):
        find_toxiproxy_server(tmp_path)
    with pytest.raises(ToxiproxyNotFound):
        ToxiproxyServer(tmp_path / "tp.log", project_root=tmp_path).start()


def test_wrong_version_binary_is_not_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bin_dir = tmp_path / ".tools" / "bin"
    bin_dir.mkdir(parents=True)
    _fake_binary(bin_dir / "toxiproxy-server", "echo 'toxiproxy-server version git'")
    with pytest.raises(ToxiproxyNotFound):
        find_toxiproxy_server(tmp_path)


# -- adapter against the real server ----------------------------------------------------------


def test_create_proxy_on_port_zero_resolves_real_port(client: ToxiproxyClient) -> None:
    info = client.create_proxy("resolve-1", "127.0.0.1:9")
    assert info.listen_port > 0
    assert info.listen == f"127.0.0.1:{info.listen_port}"
    assert info.upstream == "127.0.0.1:9"
    assert client.list_proxies()["resolve-1"]["listen"] == info.listen


def test_echo_through_proxy(client: ToxiproxyClient, echo_port: int) -> None:
    info = client.create_proxy("echo-1", f"127.0.0.1:{echo_port}")
    assert _echo_seconds(info.listen_port) < 0.2


def test_latency_toxic_update_and_remove(client: ToxiproxyClient, echo_port: int) -> None:
    port = client.create_proxy("slow-1", f"127.0.0.1:{echo_port}").listen_port
    toxic = client.add_toxic("slow-1", "lag", "latency", attributes={"latency": 300})
    assert toxic["attributes"]["latency"] == 300
    assert _echo_seconds(port) >= 0.25

    updated = client.update_toxic("slow-1", "lag", {"latency": 0})
    assert updated["attributes"]["latency"] == 0
    assert _echo_seconds(port) < 0.15

    client.update_toxic("slow-1", "lag", {"latency": 300})
    assert _echo_seconds(port) >= 0.25
    client.remove_toxic("slow-1", "lag")
    assert client.list_toxics("slow-1") == []
    assert _echo_seconds(port) < 0.15


def test_missing_toxic_is_an_api_error(client: ToxiproxyClient) -> None:
    client.create_proxy("errs-1", "127.0.0.1:9")
    with pytest.raises(ToxiproxyApiError, match="remove toxic nope from errs-1") as caught:
        client.remove_toxic("errs-1", "nope")
    assert caught.value.status == 404
    with pytest.raises(ToxiproxyApiError) as caught:
        client.update_toxic("errs-1", "nope", {"latency": 1})
    assert caught.value.status == 404
    with pytest.raises(ToxiproxyApiError) as caught:
        client.create_proxy("errs-1", "127.0.0.1:9")
    assert caught.value.status == 409


def test_destroy_all_with_and_without_prefix(client: ToxiproxyClient) -> None:
    for name in ("chaos-a", "chaos-b", "keep-c"):
        client.create_proxy(name, "127.0.0.1:9")
    client.add_toxic("chaos-a", "lag", "latency", attributes={"latency": 10})
    assert client.destroy_all(prefix="chaos-") == ["chaos-a", "chaos-b"]
    assert list(client.list_proxies()) == ["keep-c"]
    assert client.destroy_all() == ["keep-c"]
    assert client.list_proxies() == {}


def test_reset_removes_toxics(client: ToxiproxyClient) -> None:
    client.create_proxy("reset-1", "127.0.0.1:9")
    client.add_toxic("reset-1", "lag", "latency", attributes={"latency": 10})
    client.reset()
    assert client.list_toxics("reset-1") == []


@pytest.mark.parametrize(
    ("upstream", "listen"),
    [
        ("10.0.0.5:80", "127.0.0.1:0"),
        ("example.com:80", "127.0.0.1:0"),
        ("[2001:db8::1]:80", "127.0.0.1:0"),
        ("127.0.0.1:9", "0.0.0.0:0"),
        ("127.0.0.1:9", ":0"),
    ],
)
def test_non_loopback_addresses_are_rejected(upstream: str, listen: str) -> None:
    # Rejected before any request, so no server is needed.
    tp = ToxiproxyClient(f"http://127.0.0.1:{_free_port()}", timeout=1.0)
    with pytest.raises(ValueError, match="not a loopback address"):
        tp.create_proxy("outside", upstream, listen=listen)


def test_loopback_variants_are_accepted(client: ToxiproxyClient) -> None:
    assert client.create_proxy("lo-1", "localhost:9").listen_port > 0
    assert client.create_proxy("lo-2", "127.0.0.2:9", listen="127.0.0.1:0").listen_port > 0


def test_two_clients_reach_two_servers_at_once_leaving_the_library_untouched(
    client: ToxiproxyClient, tmp_path: Path
) -> None:
    """Each client has its own server, concurrently; the library's class attributes and its
    `requests` are never replaced, and no call starts a thread."""
    import requests
    import toxiproxy.api

    threads_before = threading.active_count()
    with ToxiproxyServer(tmp_path / "second.log", _binary_or_skip()) as second_server:
        second = ToxiproxyClient(second_server.url, timeout=5.0)
        errors: list[BaseException] = []

        def create_many(tp: ToxiproxyClient, prefix: str) -> None:
            try:
                for index in range(20):
                    tp.create_proxy(f"{prefix}-{index}", "127.0.0.1:9")
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        workers = [threading.Thread(target=create_many, args=(tp, prefix))
                   for tp, prefix in ((client, "first"), (second, "second"))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert errors == []
        assert sorted(client.list_proxies()) == sorted(f"first-{i}" for i in range(20))
        assert sorted(second.list_proxies()) == sorted(f"second-{i}" for i in range(20))
        assert threading.active_count() == threads_before
    assert vars(toxiproxy.api.APIConsumer)["host"] == "127.0.0.1"
    assert vars(toxiproxy.api.APIConsumer)["port"] == 8474
    assert toxiproxy.api.requests is requests


# -- failure modes: hung and dead APIs --------------------------------------------------------


_HUNG_CALLS: dict[str, Callable[[ToxiproxyClient], object]] = {
    "version": lambda tp: tp.version(),
    "create proxy p-1 (127.0.0.1:0 -> 127.0.0.1:9)": lambda tp: tp.create_proxy(
        "p-1", "127.0.0.1:9"
    ),
    "add toxic lag to p-1": lambda tp: tp.add_toxic("p-1", "lag", "latency"),
    "update toxic lag on p-1": lambda tp: tp.update_toxic("p-1", "lag", {"latency": 0}),
    "remove toxic lag from p-1": lambda tp: tp.remove_toxic("p-1", "lag"),
    "list proxies": lambda tp: tp.list_proxies(),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("operation", list(_HUNG_CALLS))
def test_hung_api_raises_timeout_instead_of_hanging(
    silent_api: _SilentHttpServer, operation: str
) -> None:
    url = f"http://127.0.0.1:{silent_api.port}"
    tp = ToxiproxyClient(url, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ToxiproxyTimeout) as caught:
        _HUNG_CALLS[operation](tp)
    assert time.monotonic() - start < 1.0 + 2.0
    message = str(caught.value)
    assert f"Toxiproxy at {url} did not answer '{operation}' within 1.0 s" in message
    assert "#159" in message
    assert "\n" not in message


@pytest.mark.timeout(30)
def test_dead_api_raises_unavailable_quickly() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    tp = ToxiproxyClient(url, timeout=5.0)
    for call in (tp.version, tp.list_proxies, lambda: tp.update_toxic("p", "t", {})):
        start = time.monotonic()
        with pytest.raises(ToxiproxyUnavailable, match=f"Toxiproxy at {url} is not reachable"):
            call()
        assert time.monotonic() - start < 2.0
