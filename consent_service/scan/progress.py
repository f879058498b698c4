"""A text progress bar for scans, on stderr: redrawn in place on a terminal, one line per step
otherwise (a CI log or a file gets a readable record rather than carriage returns)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """A `progress(done, total, label)` callable for `scan()`; call `close()` when the scan ends."""

    def __init__(self, stream: TextIO | None = None, width: int = 28, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = self.stream.isatty() if tty is None else tty
        self._drawn = False

    def line(self, done: int, total: int, label: str) -> str:
        total = max(total, done, 1)
        filled = round(self.width * done / total)
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} pages x states  {label}"

    def __call__(self, done: int, total: int, label: str) -> None:
        text = self.line(done, total, label)
        if self.tty:
            self.stream.write("\r\x1b[2K" + text[:200])
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
