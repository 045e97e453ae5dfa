"""The one kind of failure that ends a run with ERROR: a component of the rig broke.

Toxiproxy (the server or a call to it), the target, Locust, the lock-report source: each
raises a subclass of :class:`ComponentError` whose message names the component and the
cause. The run and the web UI catch this one type; the verdict is ERROR with that message.
"""

from __future__ import annotations

__all__ = ["ComponentError"]


class ComponentError(Exception):
    """A component of the rig failed; ``str(error)`` names it and says why, on one line."""
