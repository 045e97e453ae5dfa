"""The HTTP trigger of a server-push room: fill in its request, send it (bounded in time).

``url`` and ``body`` of ``[push.trigger]`` name ``{room}``, ``{id}``, ``{sent_at}`` and
``{body}``, filled in as text (URL-quoted in ``url``). Only a name in braces is a placeholder,
so a JSON body is written as it is sent: ``'{"id": "{id}"}'``. The id is the harness's own,
``push-P-N``, and a body is random base64 text, so neither needs escaping inside a JSON
string. A ``url`` that is a path goes to the target's own host and port (never through a
Toxiproxy proxy: the trigger is the harness, not a member).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from harness.push.settings import PLACEHOLDER, TriggerSettings

__all__ = ["TriggerFailed", "TriggerRequest", "fill", "http_base", "send"]


class TriggerFailed(Exception):
    """The trigger's request failed: no answer in time, refused, or not a 2xx status."""


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value (others left as written)."""
    return PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), text)


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
        url = fill(settings.url, quoted)
        if url.startswith("/"):
            url = base.rstrip("/") + url
        return cls(settings.method, url, fill(settings.body, values).encode(),
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
