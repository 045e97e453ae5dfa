"""The harness's one HTTP GET and its one readiness poller.

Every HTTP read of the rig goes through :func:`http_get` (or :func:`get_ok`,
:func:`get_json`): a target's readiness URL and ``/healthz``, lock reports, Prometheus
metrics, Toxiproxy's ``/version`` while it starts, Locust's web UI. One rule for errors:
an HTTP answer of any status is an :class:`HttpAnswer`; no answer at all (refused, reset,
timed out, TLS refused, not HTTP, a URL that cannot be fetched) is an :class:`HttpFailed`
whose one-line message names the URL and the cause. ``get_ok`` adds "the status must be 200"
and ``get_json`` "the body must be JSON", both as :class:`HttpFailed` too.

Every component that must come up before a run (the target, Toxiproxy, Locust's web UI)
waits in :func:`wait_until`: it polls a check until it holds, asks the component at each
round whether it is still alive (a death ends the wait at once, naming the cause), and
raises the caller's own error at the deadline.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.errors import ComponentError

__all__ = ["HttpAnswer", "HttpFailed", "HttpTooLong", "answers_200", "get_json", "get_ok",
           "http_get", "wait_until"]

_T = TypeVar("_T")

#: How much of an answer is read at once; the deadline is checked between reads.
_CHUNK = 64 * 1024
#: How often :func:`wait_until` checks by default.
POLL_INTERVAL_S = 0.05


class HttpFailed(ComponentError):
    """A GET got no usable answer; ``str(error)`` is one line naming the URL and the cause.

    Attributes:
        url: What was fetched.
        reason: The cause alone, in a few words (for callers that name the URL themselves).
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"GET {url}: {reason}")
        self.url = url
        self.reason = reason


class HttpTooLong(HttpFailed):
    """The answer was longer than the caller reads at most; none of it is returned."""


@dataclass(frozen=True)
class HttpAnswer:
    """What a server answered: its status and body (any status, not only 200)."""

    url: str
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http_get(url: str, *, timeout: float = 2.0, context: ssl.SSLContext | None = None,
             max_bytes: int | None = None) -> HttpAnswer:
    """GET ``url`` within ``timeout`` seconds.

    The timeout bounds the connect, each wait for bytes, and the whole read: the body is read
    as it arrives and the deadline checked between reads (so a server that trickles its answer
    fails too, after at most about twice the timeout). ``context`` verifies an ``https://``
    URL (None: the system's CAs). ``max_bytes`` bounds the body: more than that is an
    :class:`HttpTooLong` (a cut answer could end mid-value, so none of it is returned).

    Raises:
        HttpFailed: no HTTP answer in time, or a body over ``max_bytes``.
    """
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return HttpAnswer(url, int(response.status),
                              _read(response, url, deadline, timeout, max_bytes))
    except urllib.error.HTTPError as exc:  # an answer, only not 2xx: the caller judges it
        with exc:
            return HttpAnswer(url, exc.code, _read(exc, url, deadline, timeout, max_bytes))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError and socket timeouts are OSErrors; ValueError: a URL urllib cannot fetch.
        raise HttpFailed(url, _reason(exc)) from None


def _read(response: Any, url: str, deadline: float, timeout: float,
          max_bytes: int | None) -> bytes:
    # read1: whatever has arrived (read(n) would wait for all n bytes, past the deadline).
    read = getattr(response, "read1", response.read)
    chunks: list[bytes] = []
    size = 0
    while chunk := read(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise HttpTooLong(url, f"answered more than {max_bytes} bytes (the most read)")
        if time.monotonic() > deadline:
            raise HttpFailed(url, f"the answer took longer than {timeout:g} s")
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    """The cause in a few words: ``connection refused``, ``timed out``, a TLS error, ..."""
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, http.client.HTTPException):
        text = f"not an HTTP answer ({type(exc).__name__}: {exc})"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror.lower()  # "Connection refused" -> "connection refused"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def get_ok(url: str, *, timeout: float = 2.0, context: ssl.SSLContext | None = None,
           max_bytes: int | None = None) -> bytes:
    """The body of ``url``'s 200 answer.

    Raises:
        HttpFailed: no answer (as :func:`http_get`), or a status other than 200.
    """
    answer = http_get(url, timeout=timeout, context=context, max_bytes=max_bytes)
    if answer.status != 200:
        raise HttpFailed(url, f"answered HTTP {answer.status}, not 200")
    return answer.body


def get_json(url: str, *, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> Any:
    """``url``'s 200 answer, decoded as JSON.

    Raises:
        HttpFailed: as :func:`get_ok`, or a body that is not JSON.
    """
    body = get_ok(url, timeout=timeout, context=context)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HttpFailed(url, f"the answer is not JSON ({exc})") from None


def answers_200(url: str, *, timeout: float = 1.0, context: ssl.SSLContext | None = None
                ) -> bool:
    """One readiness check: does ``url`` answer 200 now? No answer is "not yet"."""
    try:
        return http_get(url, timeout=timeout, context=context).status == 200
    except HttpFailed:
        return False


def _always_alive() -> None:
    return None


def wait_until(check: Callable[[], _T | None], *, timeout: float,
               timed_out: Callable[[], BaseException],
               still_alive: Callable[[], None] = _always_alive,
               interval: float = POLL_INTERVAL_S) -> _T:
    """Poll ``check`` until it returns something truthy; return that.

    After each failed check, ``still_alive`` is called; it raises when the component died
    (so a death is named at once, not as a timeout). After ``timeout`` seconds the exception
    that ``timed_out()`` builds is raised (it may stop the component first).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        still_alive()
        if time.monotonic() > deadline:
            raise timed_out()
        time.sleep(interval)
