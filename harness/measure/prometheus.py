"""Read Prometheus text exposition (format 0.0.4): scrape a URL, select series by name and labels.

Only what the ``metric`` threshold needs: sample lines ``name{label="v",...} value
[timestamp]``; comments, ``# HELP`` and ``# TYPE`` lines are skipped. A selector
``name{label="v"}`` matches every series with that name whose labels include the
given ones; its value is the sum over them (Prometheus' ``sum(name{label="v"})``),
so a bare name adds up all its series.
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass

from harness.net.httpget import HttpFailed, HttpTooLong, get_ok

__all__ = ["MetricSelector", "ScrapeFailed", "Series", "parse_exposition", "scrape"]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>[^}}]*)\}})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_SELECTOR = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>[^}}]*)\}})?$")

#: Bytes of a /metrics answer read at most; a larger answer is a failed scrape.
MAX_EXPOSITION_BYTES = 4 * 1024 * 1024


class ScrapeFailed(Exception):
    """The URL could not be fetched in time, did not answer 200, or answered too much."""


@dataclass(frozen=True, slots=True)
class Series:
    """One sample line: metric name, labels, value."""

    name: str
    labels: dict[str, str]
    value: float


def _labels(text: str | None) -> dict[str, str] | None:
    """``a="1",b="2"`` as a dict; None when it is not a well-formed label list."""
    if not text or not text.strip():
        return {}
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            return None if text[position:].strip() else labels
        labels[match[1]] = match[2]
        position = match.end()
    return labels


def _value(text: str) -> float | None:
    try:
        return float(text)  # also "+Inf", "-Inf", "NaN"
    except ValueError:
        return None


def parse_exposition(text: str) -> list[Series]:
    """Every well-formed sample line of ``text``; malformed lines are skipped."""
    series: list[Series] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        labels = _labels(match["labels"])
        value = _value(match["value"])
        if labels is not None and value is not None:
            series.append(Series(match["name"], labels, value))
    return series


@dataclass(frozen=True, slots=True)
class MetricSelector:
    """``name`` or ``name{label="value",...}``: which series a ``metric`` check reads."""

    name: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> MetricSelector:
        """Raises ValueError (saying what a selector looks like) when ``text`` is not one."""
        match = _SELECTOR.match(text.strip())
        labels = _labels(match["labels"]) if match else None
        if match is None or labels is None:
            raise ValueError(
                f"{text!r} is not a metric selector; write a Prometheus name with optional "
                'labels, e.g. roomserver_pending_sends or roomserver_outbox_depth{stat="max"}'
            )
        return cls(match["name"], tuple(sorted(labels.items())))

    def __str__(self) -> str:
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f'{key}="{value}"' for key, value in self.labels) + "}"

    def value(self, series: list[Series]) -> float | None:
        """The sum of the matching series' values; None when no series matches."""
        values = [
            sample.value for sample in series
            if sample.name == self.name
            and all(sample.labels.get(key) == value for key, value in self.labels)
        ]
        if not values or any(math.isnan(value) for value in values):
            return None
        return sum(values)


def scrape(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None
           ) -> list[Series]:
    """GET ``url`` and parse it; ``context`` verifies an ``https://`` URL.

    Raises:
        ScrapeFailed: on a connection error, a timeout, a status other than 200, or an
            answer longer than :data:`MAX_EXPOSITION_BYTES`.
    """
    try:
        body = get_ok(url, timeout=timeout, context=context, max_bytes=MAX_EXPOSITION_BYTES)
    except HttpTooLong as exc:  # cut, its last line could be a wrong value: not parsed at all
        raise ScrapeFailed(f"{url}: {exc.reason}; not parsed: expose fewer series there"
                           ) from None
    except HttpFailed as exc:
        raise ScrapeFailed(f"{url}: {exc.reason}") from None
    return parse_exposition(body.decode("utf-8", "replace"))
