"""Nothing seen is not a verdict: a check none of whose operations ever succeeded.

A check measured on the members' operations (``join[fast].p99`` on the joins of fast members,
``errors.ratio`` on every operation; see
:class:`~harness.thresholds.base.ObservesOperations`) judges the target only when some of
those operations got through. When every one of them failed, the run did not test the target:
a refused handshake, a join frame the server closes on, a wrong ``[protocol]`` or URL. The
verdict is then ERROR naming the cause (harness.checker.verdict), never FAIL ``errors.ratio = 1``.

A cause is what the failures have in common, read from their error text: ``got HTTP 403``
(a refused WebSocket handshake), ``closed with code 3501 (join refused)``, ``got no
'joined' reply within 15 s``, ``never finished``. An error text of another shape is its own
cause, cut at :data:`CAUSE_LENGTH` characters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.measure.measurements import Sample
from harness.thresholds import Check
from harness.thresholds.base import ObservesOperations

__all__ = ["NotTested", "cause_of", "not_tested"]

#: A cause read from an error text of no known shape keeps this many characters.
CAUSE_LENGTH = 80
#: The first error is quoted up to this many characters.
FIRST_ERROR_LENGTH = 200

_HTTP_STATUS = re.compile(r"[Hh]andshake status (\d{3})|\(HTTP (\d{3})\)")
_CLOSE_CODE = re.compile(r"\bcode (\d{3,4})(?::\s*([^)]*))?")
_NO_REPLY = re.compile(r"no '([^']+)' reply within ([\d.]+) s")
_UNEXPECTED = re.compile(r"expected '([^']+)', got")
#: websocket-client appends the response's headers and body to a refused handshake.
_HANDSHAKE_DETAIL = " -+-+- "


def cause_of(error: str | None) -> str:
    """What a failure says, in words that are the same for every failure of its kind.

    ``got HTTP 403``, ``closed with code 3501 (join refused)``, ``got no 'joined' reply
    within 15 s``, ``got a reply other than 'joined'``, ``never finished``, ``timed out``,
    else ``failed: <the error's first CAUSE_LENGTH characters>``.
    """
    text = one_line(error or "")
    if not text:
        return "failed"
    if text in ("unfinished", "timeout"):
        return "never finished" if text == "unfinished" else "timed out"
    if match := _HTTP_STATUS.search(text):
        return f"got HTTP {match[1] or match[2]}"
    if match := _CLOSE_CODE.search(text):
        reason = (match[2] or "").strip()
        return f"closed with code {match[1]}" + (f" ({reason})" if reason else "")
    if match := _NO_REPLY.search(text):
        return f"got no '{match[1]}' reply within {match[2]} s"
    if match := _UNEXPECTED.search(text):
        return f"got a reply other than '{match[1]}'"
    return "failed: " + shortened(text, CAUSE_LENGTH)


def shortened(text: str, length: int) -> str:
    """``text``, cut to ``length`` characters with an ellipsis where it was longer."""
    return text if len(text) <= length else text[:length - 1] + "…"


def one_line(error: str) -> str:
    """The error without websocket-client's appended headers and body, on one line."""
    return " ".join(error.split(_HANDSHAKE_DETAIL)[0].split())


@dataclass(frozen=True)
class NotTested:
    """A check whose operations all failed.

    Attributes:
        check: The check as written in the scenario.
        observed: What it is measured on (``join[fast]``, ``operation``).
        attempts: How many of those operations there were (all failed).
        causes: Each cause with how many failures it covers, most frequent first.
        first_error: The earliest failure's error text (one line, cut short).
        first_at_s: When the earliest failure ended, seconds since load started.
    """

    check: str
    observed: str
    attempts: int
    causes: tuple[tuple[str, int], ...]
    first_error: str
    first_at_s: float

    def summary(self) -> str:
        """``every join[fast] got HTTP 403 (57 attempts, none succeeded)``, or with several
        causes ``no join[fast] succeeded in 57 attempts: 40 got HTTP 403, 17 timed out``."""
        if len(self.causes) == 1:
            return (f"every {self.observed} {self.causes[0][0]} "
                    f"({self.attempts} attempts, none succeeded)")
        counted = ", ".join(f"{count} {cause}" for cause, count in self.causes)
        return f"no {self.observed} succeeded in {self.attempts} attempts: {counted}"

    def describe(self) -> str:
        """:meth:`summary` and the first error: when, and what it said."""
        return f"{self.summary()}; the first, at {self.first_at_s:+.1f} s: {self.first_error}"

    @classmethod
    def from_dict(cls, data: Any) -> NotTested:
        """The entry :meth:`to_dict` wrote (``result.json`` read back by another process).

        Raises:
            ValueError: a field is missing or of the wrong type.
        """
        try:
            return cls(check=str(data["check"]), observed=str(data["observed"]),
                       attempts=int(data["attempts"]),
                       causes=tuple((str(item["cause"]), int(item["count"]))
                                    for item in data["causes"]),
                       first_error=str(data["first_error"]),
                       first_at_s=float(data["first_at_s"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a not-tested entry: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: check, observed, attempts, causes (``[{cause, count}]``), first_error,
        first_at_s, and the one-line ``summary``."""
        return {
            "check": self.check,
            "observed": self.observed,
            "attempts": self.attempts,
            "causes": [{"cause": cause, "count": count} for cause, count in self.causes],
            "first_error": self.first_error,
            "first_at_s": self.first_at_s,
            "summary": self.summary(),
        }


def not_tested(checks: Iterable[Check], samples: Sequence[Sample], run_started: float
               ) -> tuple[NotTested, ...]:
    """The checks, in order, that observe at least one operation and not one success.

    Checks not measured on operations (lock reports, a Prometheus metric, RSS) are never
    listed: what they read does not depend on a member getting through.
    """
    found = []
    for check in checks:
        metric = check.metric
        if not isinstance(metric, ObservesOperations) or not metric.observed:
            continue
        observed = [sample for sample in samples if metric.observes(sample)]
        if not observed or any(sample.ok for sample in observed):
            continue
        first = min(observed, key=lambda sample: sample.time)
        causes = Counter(cause_of(sample.error) for sample in observed)
        found.append(NotTested(
            check=check.text, observed=metric.observed, attempts=len(observed),
            causes=tuple(sorted(causes.items(), key=lambda item: (-item[1], item[0]))),
            first_error=shortened(one_line(first.error or "failed, no reason given"),
                                  FIRST_ERROR_LENGTH),
            first_at_s=round(first.time - run_started, 1),
        ))
    return tuple(found)
