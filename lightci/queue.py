"""The run queue: one small text file per queued run under ``lightci/queue/``.

The post-receive hook writes entries from the shell, so the format is plain
``key value`` lines closed by a line that contains a single ``.``. A file
without that last line is still being written and is left for later.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

ZERO_ID = "0" * 40


@dataclass(frozen=True)
class QueueEntry:
    number: int
    ref: str
    old: str
    new: str
    event: str
    base: str | None = None  # for a retry: the run it repeats


def queue_dir(state_dir: Path) -> Path:
    return state_dir / "queue"


def enqueue(state_dir: Path, entry: QueueEntry) -> Path:
    directory = queue_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"number {entry.number}",
        f"ref {entry.ref}",
        f"old {entry.old}",
        f"new {entry.new}",
        f"event {entry.event}",
    ]
    if entry.base is not None:
        lines.append(f"base {entry.base}")
    text = "\n".join(lines) + "\n.\n"
    path = directory / str(entry.number)
    temporary = directory / f".{entry.number}.tmp"
    temporary.write_text(text)
    os.replace(temporary, path)
    return path


def parse_entry(text: str) -> QueueEntry | None:
    """Parse an entry's text; return None while it is incomplete."""
    if not text.endswith("\n.\n"):
        return None
    values: dict[str, str] = {}
    for line in text.splitlines()[:-1]:
        key, _, value = line.partition(" ")
        values[key] = value.strip()
    try:
        return QueueEntry(
            number=int(values["number"]),
            ref=values["ref"],
            old=values.get("old", ZERO_ID),
            new=values["new"],
            event=values.get("event", "push"),
            base=values.get("base"),
        )
    except (KeyError, ValueError):
        return None


def read_entries(state_dir: Path) -> list[QueueEntry]:
    """Return the complete entries, oldest run number first."""
    directory = queue_dir(state_dir)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            text = (directory / name).read_text()
        except (FileNotFoundError, UnicodeDecodeError):
            continue
        entry = parse_entry(text)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda item: item.number)
    return entries


def read_entry(state_dir: Path, number: int) -> QueueEntry | None:
    try:
        return parse_entry((queue_dir(state_dir) / str(number)).read_text())
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def remove(state_dir: Path, number: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (queue_dir(state_dir) / str(number)).unlink()
