"""The HTTP trigger of a server-push room: fill in its request, send it (bounded in time).

``url`` and ``body`` of ``[push.trigger]`` name ``{room}``, ``{id}``, ``{sent_at}`` and
``{body}``, filled in as text (a literal brace is written twice). The id is the harness's own,
``push-P-N``, and a body is random base64 text, so neither needs escaping inside a JSON
string. A ``url`` that is a path goes to the target's own host and port (never through a
Toxiproxy proxy: the trigger is the harness, not a member).
"""

from __future__ import annotations

import string
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from .settings import TRIGGER_PLACEHOLDERS, TriggerSettings

__all__ = ["TriggerFailed", "TriggerRequest", "check_template", "http_base", "send"]


class TriggerFailed(Exception):
    """The trigger's request failed: no answer in time, refused, or not a 2xx status."""


def check_template(text: str, where: str) -> None:
    """Raise ValueError (one line) for a placeholder ``text`` may not name, or bad braces."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{where}: bad template {text!r} ({exc}); write a literal brace "
                         "twice ({{ or }})") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TRIGGER_PLACEHOLDERS or spec or conversion:
            raise ValueError(f"{where} names {{{field}}}; it may use "
                             + ", ".join(f"{{{name}}}" for name in TRIGGER_PLACEHOLDERS))


def http_base(target_url: str) -> str:
    """``http://host:port`` of a ``ws://`` (``https://`` of a ``wss://``) target URL."""
    parts = urlsplit(target_url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


@dataclass(frozen=True)
class TriggerRequest:
    """One filled-in trigger request."""

    method: str
    url: str
    body: bytes
    content_type: str

    @classmethod
    def build(cls, settings: TriggerSettings, base: str,
              values: Mapping[str, str]) -> TriggerRequest:
        """The request for ``values`` (``room``, ``id``, ``sent_at``, ``body``); a path
        ``url`` goes to ``base`` (:func:`http_base`)."""
        quoted = {key: quote(value, safe="") for key, value in values.items()}
        url = settings.url.format_map(quoted)
        if url.startswith("/"):
            url = base.rstrip("/") + url
        return cls(settings.method, url, settings.body.format_map(values).encode(),
                   settings.content_type)


def send(request: TriggerRequest, timeout_s: float) -> int:
    """Send ``request``; its status.

    Raises:
        TriggerFailed: no answer within ``timeout_s``, a refused connection, or a status that
            is not 2xx (the message says which, in one line).
    """
    data = request.body if request.body or request.method != "GET" else None
    http = urllib.request.Request(request.url, data=data, method=request.method,
                                  headers={"Content-Type": request.content_type})
    try:
        with urllib.request.urlopen(http, timeout=timeout_s) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise TriggerFailed(f"{request.method} {request.url}: HTTP {exc.code}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise TriggerFailed(f"{request.method} {request.url}: {exc}") from None
