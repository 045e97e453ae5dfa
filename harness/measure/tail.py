"""Following a file that other processes append JSON lines to while a run goes on."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LineTail"]


class LineTail:
    """The complete lines appended to the file at ``path`` since the last call.

    The readers of the run folder's growing files (samples, delivery order, operations in
    flight, the generator's lag for the progress line, the control file the Locust master
    follows) build on it; each reads its own kind of line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._finished = False

    def finish(self) -> None:
        """Every writer is done: from now on a last line without its newline is read too
        (a writer that died mid-line, or an edited file), rather than held back for good."""
        self._finished = True

    def new_lines(self) -> list[bytes]:
        """The lines completed since the last call, without their newlines; none while the
        file does not exist yet."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        # Keep a half-written last line for later, unless no writer is left to finish it.
        end = len(chunk) if self._finished else chunk.rfind(b"\n") + 1
        self._offset += end
        return chunk[:end].splitlines()
