"""Output for people: colour on a terminal only, a pager for long output."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import click

from lightci.records import parse_time

STATUS_COLOURS = {
    "queued": "bright_black",
    "running": "yellow",
    "passed": "green",
    "failed": "red",
    "error": "magenta",
    "cancelled": "bright_black",
    "timed-out": "red",
    "skipped": "bright_black",
}


def use_colour(stream: object = None) -> bool:
    """Return whether to colour output: only on a terminal, never with NO_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    target = stream if stream is not None else sys.stdout
    isatty = getattr(target, "isatty", None)
    return bool(isatty and isatty())


def status_text(status: str, *, colour: bool, width: int = 0) -> str:
    text = status.ljust(width)
    if not colour:
        return text
    return click.style(text, fg=STATUS_COLOURS.get(status), bold=status == "failed")


def relative_time(value: str | None, now: datetime | None = None) -> str:
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def emit(text: str) -> None:
    """Print ``text``, through a pager when it is long and stdout is a terminal."""
    lines = text.count("\n")
    if sys.stdout.isatty() and lines > _terminal_height():
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)


def _terminal_height() -> int:
    try:
        return os.get_terminal_size().lines - 1
    except OSError:
        return 24
