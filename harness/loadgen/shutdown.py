"""A clean stop on SIGINT: Locust's own shutdown, with no traceback from a member.

The harness stops Locust with SIGINT, so that it writes its CSV and HTML reports: Locust catches
the ``KeyboardInterrupt`` around its main loop. But Python raises it in whichever greenlet runs
when the signal arrives, often the process's receiver or a member's greenlet blocked in a socket
send; gevent prints it there as a traceback ("... failed with KeyboardInterrupt") before it
passes it on, so every locust.log could end with one, PASS runs too. :func:`interrupt_main_only`
delivers it to the main greenlet alone, where Locust catches it; the members then stop through
Locust's runner (their ``on_stop`` closes their sockets). One hook, no patch of Locust.
"""

from __future__ import annotations

import signal

import gevent

__all__ = ["interrupt_main_only"]


def interrupt_main_only() -> None:
    """From now on SIGINT raises ``KeyboardInterrupt`` in the main greenlet only, once (a
    second SIGINT while Locust shuts down changes nothing; SIGTERM still ends it)."""
    main = gevent.get_hub().parent  # the root greenlet, where Locust's main loop runs
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            main.throw(KeyboardInterrupt)

    gevent.signal_handler(signal.SIGINT, interrupt)
