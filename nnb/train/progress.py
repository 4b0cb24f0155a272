"""A dependency-free progress line on stderr: ``\\r`` updates at most a few times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(done, loss=..., acc=...)`` redraws one line; ``close()`` ends it with a newline."""

    def __init__(self, total: int, prefix: str = "", stream: TextIO | None = None, interval: float = 0.25,
                 enabled: bool = True) -> None:
        self.total, self.prefix, self.stream = total, prefix, stream or sys.stderr
        self.interval, self.enabled = interval, enabled
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.line = ""
        self.width = 0

    def update(self, done: int, force: bool = False, **stats: float) -> None:
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < self.interval and done < self.total):
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        width = 24
        fill = int(width * done / max(self.total, 1))
        parts = [f"{k} {v:.4f}" if k == "loss" else f"{k} {v:.2%}" if k == "acc" else f"{k} {v:.4g}"
                 for k, v in stats.items()]
        self.line = (f"{self.prefix}[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} "
                     + " ".join(parts) + f" {rate:.1f} it/s")
        pad = " " * max(0, self.width - len(self.line))  # blank what a longer previous line left
        self.width = len(self.line)
        self.stream.write("\r" + self.line + pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.line:
            self.stream.write("\n")
            self.stream.flush()
