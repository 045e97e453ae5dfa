"""Child processes that never outlive the harness.

Every child runs in its own session (so its whole process group can be
signalled), writes its output to a log file, and is stopped with SIGTERM,
then SIGKILL after a grace period. Children still alive at interpreter exit
are stopped by an ``atexit`` hook, which covers exceptions inside the harness;
the run turns SIGINT, SIGTERM and SIGHUP into a clean stop. (Nothing can
clean up after a SIGKILL of the harness itself; Locust's --run-time bound
still ends it.)
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from harness.errors import ComponentError
from harness.net.httpget import wait_until

__all__ = ["ChildProcess", "ProcessFailed"]

_live: weakref.WeakSet[ChildProcess] = weakref.WeakSet()


class ProcessFailed(ComponentError):
    """A child did not start, or died; the message names it and the cause."""


class ChildProcess:
    """One child process with its output in ``log_path``.

    Args:
        name: Short name used in messages ("target", "locust", ...).
        argv: Command line.
        log_path: File that receives stdout and stderr.
        env: Environment (default: inherit).
        cwd: Working directory (default: inherit).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        #: Where this start's output begins in the log (a reused folder's log has older runs').
        self._log_start = 0

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.popen.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log_start = self._log.tell()
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise ProcessFailed(f"{self.name} could not start ({self.argv[0]}): {exc}") from None
        _live.add(self)

    def returncode(self) -> int | None:
        """Exit status, or ``None`` while it runs."""
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def death_message(self, lines: int = 3) -> str:
        """One line on how the child ended, with the last ``lines`` lines of its log."""
        code = self.returncode()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else (
            f"exited with code {code}")
        tail = self.log_tail(lines)
        return f"{self.name} {how}" + (f" (log: {tail})" if tail else "")

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until this start's output has a line matching ``pattern``; return the match.

        Only what the child wrote since :meth:`start` counts: the log is appended to, and an
        earlier child's line in a reused folder (its "listening" line, with another port)
        must not pass for this one's.

        Raises:
            ProcessFailed: if the child exits first or ``timeout`` passes.
        """
        regex = re.compile(pattern)

        def matching_line() -> re.Match[str] | None:
            try:
                with open(self.log_path, "rb") as log:
                    log.seek(self._log_start)
                    text = log.read().decode(errors="replace")
            except OSError:
                return None
            return next(filter(None, map(regex.search, text.splitlines())), None)

        def still_alive() -> None:
            if not self.alive():
                raise ProcessFailed(f"{self.death_message()} before it was ready")

        return wait_until(matching_line, timeout=timeout, still_alive=still_alive,
                          timed_out=lambda: ProcessFailed(
                              f"{self.name} was not ready within {timeout:g} s "
                              f"(log: {self.log_path})"))

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child's whole process group."""
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop the child and its group: SIGTERM, then SIGKILL after ``grace`` s.

        Idempotent. Returns the exit status.
        """
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        # The leader is gone; make sure no straggler of its group survives.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log is not None:
            self._log.close()
            self._log = None
        _live.discard(self)
        return self.popen.returncode


@atexit.register
def _stop_all() -> None:
    for child in list(_live):
        child.stop(grace=2.0)
