"""wss:// targets through the proxies, and hosts other than loopback only when named.

The TLS target is the reference server behind a TLS front written here (asyncio, a
certificate for ``localhost`` and 127.0.0.1 made at test time with trustme). The front records
the server name (SNI) and the Host header of every connection, so the test sees that members
dialling a proxy at 127.0.0.2 still ask for ``localhost``. Every address used is loopback.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from harness.__main__ import build_parser
from harness.net.tls import TlsOptions, check_origin, target_origin
from harness.net.urls import parse_target_url
from harness.rig.launched import ReferenceTarget
from harness.rig.target_options import target_rig_options
from harness.scenario import load_scenario
from harness.target import TargetInfo, TargetUnreachable, probe_target
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.server import ToxiproxyServer
from tests.test_chaos_run import assert_nothing_left, harness, only_result, write_scenario
from tests.test_launched_target import assert_refused

pytestmark = pytest.mark.integration

_HOST_HEADER = re.compile(rb"\r\nHost: ([^\r\n]*)\r\n", re.IGNORECASE)


@dataclass
class TlsFront:
    """TLS on ``port`` (127.0.0.1), plain TCP to the server behind; what clients asked for."""

    port: int = 0
    server_names: list[str | None] = field(default_factory=list)
    host_headers: list[str] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_target(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[TlsFront, TargetInfo]]:
    """The fixed reference server behind a TLS front with a localhost certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    front = TlsFront()
    context.sni_callback = lambda sock, name, ctx: front.server_names.append(name)
    loop = asyncio.new_event_loop()
    with ReferenceTarget("fixed", tmp_path_factory.mktemp("tls-target")) as info:

        async def relay(client_reader: asyncio.StreamReader,
                        client_writer: asyncio.StreamWriter) -> None:
            first = await client_reader.read(65536)
            if match := _HOST_HEADER.search(first):
                front.host_headers.append(match[1].decode())
            server_reader, server_writer = await asyncio.open_connection(info.host, info.port)
            server_writer.write(first)
            await asyncio.gather(_pipe(client_reader, server_writer),
                                 _pipe(server_reader, client_writer))

        server = loop.run_until_complete(
            asyncio.start_server(relay, "127.0.0.1", 0, ssl=context))
        front.port = server.sockets[0].getsockname()[1]
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield front, info
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            server.close()


def test_a_wss_target_runs_through_proxies_keeping_its_name(
    ca: trustme.CA, tls_target: tuple[TlsFront, TargetInfo], tmp_path: Path
) -> None:
    front, _ = tls_target
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    url = f"wss://localhost:{front.port}/ws"
    locks = f"https://localhost:{front.port}/debug/locks"  # verified with the same CA
    seen_before = len(front.server_names)
    scenario = write_scenario(tmp_path, fault="3s")
    completed = harness("run", str(scenario), "--target-url", url,
                        "--ca-file", str(ca_file), "--proxy-host", "127.0.0.2",
                        "--lock-reports", locks, results=tmp_path)
    result = only_result(tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert result["verdict"]["status"] == "PASS"
    # The members dialled proxies on 127.0.0.2 (not in the certificate), TLS end to end.
    proxies = result["extra"]["proxies"]
    assert proxies["fast"].startswith("wss://127.0.0.2:"), proxies
    assert all(slow.startswith("wss://127.0.0.2:") for slow in proxies["slow"]), proxies
    names = front.server_names[seen_before:]
    members = load_scenario(scenario).load.members
    assert len(names) > members, names  # the probe and every member's connections
    assert set(names) == {"localhost"}
    assert set(front.host_headers[seen_before:]) == {f"localhost:{front.port}"}
    assert result["extra"]["lock_reports_source"] == locks
    assert_nothing_left(result, tmp_path)


def test_an_untrusted_certificate_is_an_error_that_names_the_fix(
    tls_target: tuple[TlsFront, TargetInfo], tmp_path: Path
) -> None:
    front, _ = tls_target
    completed = harness("run", str(write_scenario(tmp_path)), "--target-url",
                        f"wss://localhost:{front.port}/ws", results=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    message = only_result(tmp_path)["verdict"]["message"]
    assert "TLS failed" in message and "CERTIFICATE_VERIFY_FAILED" in message, message
    assert "--ca-file" in message and "--insecure" in message


def test_no_insecure_overrides_the_scenarios_insecure_key(
    tls_target: tuple[TlsFront, TargetInfo], tmp_path: Path
) -> None:
    """``[target] insecure = true`` skips verification; ``--no-insecure`` (a flag wins over
    its key) switches it back on, so the self-signed front is refused."""
    front, _ = tls_target
    scenario = write_scenario(tmp_path)
    text = scenario.read_text()
    assert "[target]\n" in text
    scenario.write_text(text.replace("[target]\n", "[target]\ninsecure = true\n", 1))
    url = f"wss://localhost:{front.port}/ws"
    for flags, insecure in (([], True), (["--no-insecure"], False), (["--insecure"], True)):
        args = build_parser().parse_args(["run", str(scenario), "--target-url", url, *flags])
        assert target_rig_options(args, load_scenario(scenario))["tls"].insecure is insecure
    completed = harness("run", str(scenario), "--target-url", url, "--no-insecure",
                        results=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    message = only_result(tmp_path)["verdict"]["message"]
    assert "TLS failed" in message and "CERTIFICATE_VERIFY_FAILED" in message, message


def test_probe_verifies_unless_insecure(
    ca: trustme.CA, tls_target: tuple[TlsFront, TargetInfo], tmp_path: Path
) -> None:
    front, _ = tls_target
    with pytest.raises(TargetUnreachable, match="TLS failed"):
        probe_target(f"wss://localhost:{front.port}/ws")
    probe_target(f"wss://localhost:{front.port}/ws", tls=TlsOptions(insecure=True))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    probe_target(f"wss://127.0.0.1:{front.port}/ws", tls=TlsOptions(ca_file=str(ca_file)))


def test_connect_options_keep_the_target_name_through_a_proxy() -> None:
    tls = TlsOptions(ca_file="ca.pem")
    options = tls.connect_options("wss://127.0.0.2:4000/ws", "wss://rooms.test:8443/ws")
    assert options == {"host": "rooms.test:8443", "origin": "https://rooms.test:8443",
                       "sslopt": {"server_hostname": "rooms.test", "ca_certs": "ca.pem"}}
    # Host and Origin are the target's, never the proxy's (a same-origin check compares them).
    assert TlsOptions().connect_options("ws://127.0.0.1:4000/ws", "ws://127.0.0.1:9000/ws") == {
        "host": "127.0.0.1:9000", "origin": "http://127.0.0.1:9000"}
    assert TlsOptions().connect_options("ws://127.0.0.1:9000/ws") == {
        "origin": "http://127.0.0.1:9000"}
    assert TlsOptions().connect_options("wss://127.0.0.1:4000/ws", "wss://rooms.test/ws",
                                        "https://app.test")["origin"] == "https://app.test"


def test_an_origin_is_scheme_host_and_port_only() -> None:
    assert target_origin("wss://rooms.test/ws?x=1") == "https://rooms.test"
    assert target_origin("ws://[::1]:9000/chat") == "http://[::1]:9000"
    assert check_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("127.0.0.1:8080", "ftp://x", "http://x/path", "http://x:99999", "",
                "http://x\r\nX-Evil: 1", "http://"):
        with pytest.raises(ValueError, match="origin") as caught:
            check_origin(bad, "[target] origin")
        assert "\n" not in str(caught.value)  # one line
    insecure = TlsOptions(insecure=True).connect_options("wss://localhost:1/ws")["sslopt"]
    assert insecure["cert_reqs"] == ssl.CERT_NONE and insecure["check_hostname"] is False


def test_wss_defaults_to_port_443_and_other_hosts_need_naming() -> None:
    assert parse_target_url("wss://localhost/ws").port == 443
    with pytest.raises(ValueError, match="has no port"):
        parse_target_url("ws://localhost/ws")
    with pytest.raises(ValueError, match="--allow-host rooms.test"):
        parse_target_url("wss://rooms.test/ws")
    assert parse_target_url("wss://rooms.test/ws", allowed_hosts=("ROOMS.test",)).host == \
        "rooms.test"
    assert parse_target_url("ws://[::1]:9000/ws").host == "::1"


def test_a_proxy_to_a_named_host_is_created_without_traffic(tmp_path: Path) -> None:
    with ToxiproxyServer(tmp_path / "toxiproxy.log") as server:
        client = ToxiproxyClient(server.url)
        with pytest.raises(ValueError, match="--allow-host 10.9.9.9"):
            client.create_proxy("remote", "10.9.9.9:9000")
        # Toxiproxy dials the upstream only when a client connects; none does here.
        proxy = client.create_proxy("remote", "10.9.9.9:9000", allowed_hosts=("10.9.9.9",))
        assert proxy.upstream == "10.9.9.9:9000" and proxy.listen_port > 0


@pytest.mark.parametrize(("args", "expected"), [
    (["--proxy-host", "10.1.2.3"], "--proxy-host '10.1.2.3' is not a loopback address"),
    (["--proxy-host", "0.0.0.0", "--allow-host", "0.0.0.0"], "is a wildcard"),
    (["--master-bind-host", "0.0.0.0"], "--allow-host 0.0.0.0"),
    (["--target-url", "ws://10.1.2.3:9000/ws"], "--allow-host 10.1.2.3"),
    (["--allow-host", ""], "--allow-host is empty"),
    (["--target-url", "wss://localhost:9000/ws", "--ca-file", "/etc/hostname"],
     "is not a readable PEM CA file"),
])
def test_hosts_other_than_loopback_are_refused_unless_named(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    assert_refused(write_scenario(tmp_path), args, expected)
