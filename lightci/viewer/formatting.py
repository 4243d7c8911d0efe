"""Times, durations and sizes as people read them on the viewer's pages."""

from __future__ import annotations

from datetime import UTC, datetime

from lightci.records import format_duration, parse_time, seconds_between

_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def relative_time(value: str | None, now: datetime | None = None) -> str:
    """Return an ISO 8601 time as ``3 minutes ago`` (or "" when it is missing)."""
    moment = parse_time(value)
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 45:
        return "just now"
    for unit, length in _UNITS:
        count = int(seconds // length)
        if count >= 1:
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "1 minute ago"


def duration_between(start: str | None, end: str | None) -> str:
    """Return the time between two ISO 8601 times, or "" if either is missing."""
    seconds = seconds_between(start, end)
    return "" if seconds is None else format_duration(max(seconds, 0.0))


def duration(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(max(seconds, 0.0))


def size(count: int) -> str:
    """Return a byte count as ``512 B``, ``1.5 KiB``, ``3.2 MiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def subject(message: str) -> str:
    """Return the first line of a commit message."""
    return message.strip().split("\n", 1)[0]
