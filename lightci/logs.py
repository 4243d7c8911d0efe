"""Job logs as they are captured: raw bytes, written live to a file, capped."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import BinaryIO, Protocol

DEFAULT_MAX_LOG_BYTES = 16 * 1024 * 1024

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(data: bytes) -> bytes:
    """Remove ANSI escape sequences (colours, cursor moves) from output."""
    return _ANSI.sub(b"", data)


class LogSink(Protocol):
    def write(self, data: bytes) -> None: ...


class JobLog:
    """A job's log file: every write lands on disk at once, so readers see it live.

    Past ``max_bytes`` the rest of the output is counted but dropped, and a
    marker line gives the count, so one runaway step cannot fill the disk.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_LOG_BYTES,
        echo: BinaryIO | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self.dropped = 0
        self._echo = echo
        self._handle = path.open("wb", buffering=0)
        self._lock = threading.Lock()

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._handle.closed:
                return
            room = self.max_bytes - self.size
            kept = data[: max(room, 0)]
            if kept:
                self._handle.write(kept)
                self.size += len(kept)
                self._echo_write(kept)
            self.dropped += len(data) - len(kept)

    def _echo_write(self, data: bytes) -> None:
        if self._echo is None:
            return
        try:
            self._echo.write(data)
            self._echo.flush()
        except (OSError, ValueError):
            self._echo = None

    def close(self) -> None:
        with self._lock:
            if self._handle.closed:
                return
            if self.dropped:
                marker = (
                    f"\n[lightci: log truncated at {self.max_bytes} bytes; "
                    f"{self.dropped} more bytes were dropped. Raise the limit "
                    "with `git config lightci.maxLogSize BYTES`]\n"
                ).encode()
                self._handle.write(marker)
                self._echo_write(marker)
            self._handle.close()
