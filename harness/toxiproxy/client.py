"""The one adapter over toxiproxy-python 0.1.1: per-client server, timeouts, toxic updates.

The library keeps the API's host and port as class attributes of `toxiproxy.api.APIConsumer`,
whose classmethods build every URL from ``cls.host`` and ``cls.port`` and pass their keyword
arguments on to `requests`. This module uses that design as it is, without editing, forking or
patching it (docs/toxiproxy.md says why it goes no further):

* **One server per client.** Each `ToxiproxyClient` makes its own subclass of `APIConsumer`
  with that server's host and port, so several clients talk to several servers, even
  concurrently. The library's `Toxiproxy` and `Proxy` objects are not used: they call the
  base class, whose host and port are one per process.
* **Timeouts.** Every call passes ``timeout=`` through the consumer's keyword arguments to
  `requests`, so a hung Toxiproxy API (upstream issues #159, #210, #412, #558) becomes a
  `ToxiproxyTimeout` within the client's timeout instead of a frozen harness. (A `requests`
  timeout bounds the connect and each wait for bytes; a hung API sends none.)
* **No toxic update.** The subclass adds ``patch`` in the library's own style (its
  ``validate_response`` maps 400, 404 and 409), for ``PATCH /proxies/{proxy}/toxics/{toxic}``.

Load and fault traffic must stay on this machine, so proxies accept only loopback listen and
upstream addresses (127.0.0.0/8, ``localhost``, ``::1``), unless the user named another host
with ``--allow-host`` (:func:`harness.net.urls.check_host`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from toxiproxy.api import APIConsumer, validate_response
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import ComponentError
from harness.net.urls import check_host

__all__ = [
    "ProxyInfo",
    "ToxiproxyApiError",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyTimeout",
    "ToxiproxyUnavailable",
    "require_loopback",
]

_T = TypeVar("_T")

_HANG_HINT = "known Toxiproxy API hang, see issues #159/#558"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_STREAMS = ("downstream", "upstream")


class ToxiproxyError(ComponentError):
    """A Toxiproxy API call failed; the message is one line naming the operation and URL."""


class ToxiproxyTimeout(ToxiproxyError):
    """The API did not answer within the client's timeout (it may be hung)."""


class ToxiproxyUnavailable(ToxiproxyError):
    """Nothing usable answered at the API URL (connection refused, reset, ...)."""


class ToxiproxyApiError(ToxiproxyError):
    """The API answered with an error status (`status`: 400 bad toxic, 404, 409 exists, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ProxyInfo:
    """A created proxy: clients connect to `listen` (port `listen_port`), it forwards to
    `upstream`."""

    name: str
    listen: str
    upstream: str
    listen_port: int


class _ServerApi(APIConsumer):
    """The library's API consumer with the one verb it lacks; subclassed per server."""

    @classmethod
    def patch(cls, url: str, json: Any = None, **kwargs: Any) -> requests.Response:
        """Use the PATCH method to change data in the API (as the library's ``post``)."""
        endpoint = f"http://{cls.host}:{cls.port}{url}"
        response: requests.Response = validate_response(
            requests.patch(url=endpoint, json=json, **kwargs))
        return response


def _api_for(host: str, port: int) -> type[_ServerApi]:
    """A consumer class bound to the server at ``host:port`` (class attributes of its own)."""
    url_host = f"[{host}]" if ":" in host else host
    return type(f"ToxiproxyApi_{port}", (_ServerApi,), {"host": url_host, "port": port})


# -- validation -------------------------------------------------------------------------------


def _check_name(kind: str, name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: use 1-128 of [A-Za-z0-9_.-]")


def require_loopback(address: str, what: str, *, allow_port_zero: bool,
                     allowed_hosts: Collection[str] = ()) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:PORT`` for IPv6) and return (host, port).

    Raises:
        ValueError: the address is malformed, or the host is neither loopback (127.0.0.0/8,
            ``localhost``, ``::1``) nor in ``allowed_hosts``, since load and fault traffic
            must stay on this machine unless the user says otherwise.
    """
    if address.startswith("["):
        host, sep, port_text = address[1:].partition("]:")
    else:
        host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{what} {address!r} is not HOST:PORT")
    port = int(port_text)
    if not (0 if allow_port_zero else 1) <= port <= 65535:
        raise ValueError(f"{what} {address!r} has port {port} out of range")
    check_host(host or "0.0.0.0", what, allowed_hosts, shown=repr(address))
    return host, port


def _error_text(exc: BaseException) -> str:
    """A short one-line reason for a library or requests exception."""
    if exc.args and isinstance(exc.args[0], bytes | str):
        raw = exc.args[0]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            text = str(body["error"])
    else:
        text = str(exc)
    lowered = text.lower()
    for marker in ("connection refused", "connection reset", "connection aborted"):
        if marker in lowered:
            return marker
    return " ".join(text.split())[:200] or type(exc).__name__


# -- client -----------------------------------------------------------------------------------


class ToxiproxyClient:
    """Client for one Toxiproxy server at `url` (``http://HOST:PORT``).

    Every method finishes within `timeout` seconds or raises `ToxiproxyError` (a subclass of
    `ComponentError`) with a one-line message naming the operation and the URL:
    `ToxiproxyTimeout` when the API hangs, `ToxiproxyUnavailable` when nothing answers,
    `ToxiproxyApiError` when it answers with an error status. Invalid arguments raise ValueError.
    Instances are safe to use from several threads, and several instances may target different
    servers in the same process.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"Toxiproxy URL {url!r} is not http://HOST:PORT")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._api = _api_for(parts.hostname, parts.port)

    def _get(self, path: str) -> Any:
        """GET ``path`` from this client's server and decode its JSON answer."""
        return self._api.get(path, timeout=self.timeout).json()

    # -- queries -------------------------------------------------------------------------------

    def version(self) -> str:
        """The server version, e.g. ``"2.12.0"``."""

        def call() -> str:
            raw = self._api.get("/version", timeout=self.timeout).content
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            try:
                body = json.loads(text)
            except ValueError:
                return text.strip()
            return str(body["version"]) if isinstance(body, dict) else text.strip()

        return self._call("version", call)

    def list_proxies(self) -> dict[str, dict[str, Any]]:
        """All proxies as the API returns them: name -> {name, listen, upstream, toxics, ...}."""
        return self._call("list proxies", lambda: _json_dict(self._get("/proxies")))

    def list_toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics of `proxy`: dicts with name, type, stream, toxicity, attributes."""
        _check_name("proxy", proxy)
        return self._call(
            f"list toxics of {proxy}",
            lambda: list(self._get(f"/proxies/{proxy}/toxics")),
        )

    # -- proxies -------------------------------------------------------------------------------

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0",
                     allowed_hosts: Collection[str] = ()) -> ProxyInfo:
        """Create proxy `name` listening on `listen` and forwarding to `upstream`.

        Both addresses must be ``HOST:PORT`` with a loopback host or one in `allowed_hosts`
        (``--allow-host``); with port 0 in `listen`, Toxiproxy picks a free port and the
        returned `ProxyInfo` carries the real one.
        """
        _check_name("proxy", name)
        require_loopback(upstream, "upstream", allow_port_zero=False, allowed_hosts=allowed_hosts)
        require_loopback(listen, "listen address", allow_port_zero=True,
                         allowed_hosts=allowed_hosts)

        def listen_port(address: str) -> int:
            return require_loopback(address, "listen address", allow_port_zero=True,
                                    allowed_hosts=allowed_hosts)[1]

        def call() -> ProxyInfo:
            created = _ok_object(self._api.post(
                "/proxies", json={"name": name, "upstream": upstream, "listen": listen},
                timeout=self.timeout))
            real_listen = str(created["listen"])
            port = listen_port(real_listen)
            if port == 0:  # not seen with 2.12.0; fall back to the listing
                real_listen = str(_json_dict(self._get("/proxies"))[name]["listen"])
                port = listen_port(real_listen)
            return ProxyInfo(
                name=name, listen=real_listen, upstream=str(created["upstream"]),
                listen_port=port)

        return self._call(f"create proxy {name} ({listen} -> {upstream})", call)

    def destroy_proxy(self, name: str) -> None:
        """Delete proxy `name`, closing its connections (`ToxiproxyApiError` 404 if absent)."""
        _check_name("proxy", name)
        self._call(
            f"destroy proxy {name}",
            lambda: _require_ok(self._api.delete(f"/proxies/{name}", timeout=self.timeout)),
        )

    def destroy_all(self, prefix: str | None = None) -> list[str]:
        """Delete every proxy, or only those whose name starts with `prefix`; return the names.

        Each delete is one call with its own deadline, so a hang names the proxy it hit.
        """
        names = sorted(n for n in self.list_proxies() if prefix is None or n.startswith(prefix))
        for name in names:
            self.destroy_proxy(name)
        return names

    def reset(self) -> None:
        """Re-enable all proxies and remove all toxics (``POST /reset``)."""
        self._call("reset", lambda: _require_ok(self._api.post("/reset", timeout=self.timeout)))

    # -- toxics --------------------------------------------------------------------------------

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add toxic `name` of `type` (latency, bandwidth, timeout, ...) to `proxy`; return it as
        the API echoes it, with defaults filled in.

        `stream` is ``downstream`` (server to client) or ``upstream`` (client to server);
        `toxicity` is the probability (0..1) that a connection is affected.
        """
        _check_name("proxy", proxy)
        _check_name("toxic", name)
        if stream not in _STREAMS:
            raise ValueError(f"stream must be 'downstream' or 'upstream', got {stream!r}")
        if not 0.0 <= toxicity <= 1.0:
            raise ValueError(f"toxicity must be within 0..1, got {toxicity}")
        payload = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }

        return self._call(f"add toxic {name} to {proxy}", lambda: _ok_object(
            self._api.post(f"/proxies/{proxy}/toxics", json=payload, timeout=self.timeout)))

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Change attributes of toxic `name` on `proxy` in place; return the updated toxic.

        Uses ``PATCH /proxies/{proxy}/toxics/{name}``, which toxiproxy-python lacks (see
        `_ServerApi.patch`). Attributes not given keep their values.
        """
        _check_name("proxy", proxy)
        _check_name("toxic", name)
        payload = {"attributes": dict(attributes)}

        return self._call(f"update toxic {name} on {proxy}", lambda: _ok_object(
            self._api.patch(f"/proxies/{proxy}/toxics/{name}", json=payload,
                            timeout=self.timeout)))

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove toxic `name` from `proxy` (`ToxiproxyApiError` 404 if absent).

        This is the call that can hang Toxiproxy under traffic; it then raises `ToxiproxyTimeout`.
        """
        _check_name("proxy", proxy)
        _check_name("toxic", name)
        self._call(
            f"remove toxic {name} from {proxy}",
            lambda: _require_ok(self._api.delete(f"/proxies/{proxy}/toxics/{name}",
                                                 timeout=self.timeout)),
        )

    # -- the one error rule ----------------------------------------------------------------------

    def _call(self, operation: str, fn: Callable[[], _T]) -> _T:
        """Run `fn` (its requests carry `timeout`); turn every failure into one
        `ToxiproxyError` line naming `operation` and the server."""
        where, timeout = f"Toxiproxy at {self.url}", self.timeout
        try:
            return fn()
        except requests.Timeout:  # before ConnectionError: a ConnectTimeout is both
            raise ToxiproxyTimeout(
                f"{where} did not answer '{operation}' within {timeout} s ({_HANG_HINT})"
            ) from None
        except requests.ConnectionError as exc:
            raise ToxiproxyUnavailable(
                f"{where} is not reachable for '{operation}': {_error_text(exc)}"
            ) from None
        except NotFound as exc:
            raise ToxiproxyApiError(
                f"{where} refused '{operation}': not found ({_error_text(exc)})", 404
            ) from None
        except ProxyExists as exc:
            raise ToxiproxyApiError(
                f"{where} refused '{operation}': already exists ({_error_text(exc)})", 409
            ) from None
        except InvalidToxic as exc:
            raise ToxiproxyApiError(
                f"{where} refused '{operation}': bad request ({_error_text(exc)})", 400
            ) from None
        except _HttpStatus as exc:
            raise ToxiproxyApiError(
                f"{where} refused '{operation}': HTTP {exc.status} ({exc.text})", exc.status
            ) from None
        except (ValueError, KeyError, TypeError, requests.RequestException) as exc:
            raise ToxiproxyError(
                f"{where} gave an unusable answer to '{operation}': {_error_text(exc)}"
            ) from exc


class _HttpStatus(Exception):
    """Internal: an error status the library does not map to an exception."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text


def _require_ok(response: requests.Response) -> None:
    """Raise `_HttpStatus` unless `response` has a 2xx status."""
    if not response.ok:
        raise _HttpStatus(response.status_code, _error_text(ValueError(response.content)))


def _ok_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a 2xx `response` (`_HttpStatus` otherwise)."""
    _require_ok(response)
    return _json_dict(response.json())


def _json_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
