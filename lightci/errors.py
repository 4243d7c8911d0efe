"""The one error type for problems the user can fix."""

from __future__ import annotations


class LightciError(Exception):
    """A failure the user can fix; its message names what failed and what to do.

    The command line prints it as one line on stderr and exits 1.
    """


class PipelineError(LightciError):
    """An invalid pipeline file, located by file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        filename: str,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.filename = filename
        self.line = line
        self.key = key
        super().__init__(self.format())

    def format(self) -> str:
        location = (
            self.filename if self.line is None else f"{self.filename}:{self.line}"
        )
        if self.key:
            return f"{location}: {self.key}: {self.message}"
        return f"{location}: {self.message}"
