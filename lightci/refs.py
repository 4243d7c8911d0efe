"""List refs under one prefix without reading every ref in the repository.

libgit2, as pygit2 1.21 exposes it, can only list all refs, and it reads
each loose ref file to do so: with 10,000 runs that is 10,000 file reads
per page. Here the loose refs are the files under ``<git dir>/<prefix>``
and the packed refs come from ``packed-refs``, parsed once per change.
Only names are listed; callers resolve the few they need through pygit2.

NOTE: a repository using the reftable ref storage (git 2.45 and later,
``extensions.refStorage=reftable``) has neither loose refs nor
``packed-refs``; libgit2 cannot open such repositories either.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from lightci.records import ARTIFACTS_PREFIX, RUNS_PREFIX, ArtifactRecord

if TYPE_CHECKING:
    import pygit2

# A folder changed this recently is listed again even if its modification
# time looks unchanged, because two changes within one clock tick of the
# file system share a time.
_RACY_SECONDS = 2.0


@dataclass(frozen=True)
class _Listing:
    key: tuple[int, int, int]
    names: list[str]


@dataclass(frozen=True)
class _RunNumbers:
    key: tuple[int, int, int]
    numbers: list[int]


_packed: dict[Path, _Listing] = {}
_runs: dict[Path, _RunNumbers] = {}
_lock = threading.Lock()


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


def _is_settled(key: tuple[int, int, int]) -> bool:
    return time.time() - key[0] / 1e9 > _RACY_SECONDS


def packed_ref_names(git_dir: Path) -> list[str]:
    """Return the sorted names in ``packed-refs``, cached until the file changes."""
    path = git_dir / "packed-refs"
    key = _stat_key(path)
    if key is None:
        return []
    cached = _packed.get(git_dir)
    if cached is not None and cached.key == key and _is_settled(key):
        return cached.names
    names = []
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith((b"#", b"^")):
                continue
            _, _, name = line.rstrip(b"\n").partition(b" ")
            if name:
                names.append(name.decode("utf-8", "surrogateescape"))
    names.sort()
    with _lock:
        _packed[git_dir] = _Listing(key, names)
    return names


def _loose_ref_names(git_dir: Path, prefix: str) -> list[str]:
    base = git_dir / prefix
    names = []
    for folder, _, files in os.walk(base):
        relative = Path(folder).relative_to(git_dir).as_posix()
        for name in files:
            if not name.endswith(".lock"):
                names.append(f"{relative}/{name}")
    return names


def ref_names(git_dir: Path, prefix: str) -> list[str]:
    """Return the sorted names of the refs under ``prefix`` (ending in ``/``)."""
    packed = packed_ref_names(git_dir)
    start = bisect.bisect_left(packed, prefix)
    names = set()
    for name in packed[start:]:
        if not name.startswith(prefix):
            break
        names.add(name)
    names.update(_loose_ref_names(git_dir, prefix))
    return sorted(names)


def run_numbers(git_dir: Path) -> list[int]:
    """Return the numbers of all runs, newest first; the caller must not change it.

    The loose run refs are all in one folder, so the numbers are cached until
    the folder or ``packed-refs`` changes.
    """
    folder_key = _stat_key(git_dir / RUNS_PREFIX) or (0, 0, 0)
    packed_key = _stat_key(git_dir / "packed-refs") or (0, 0, 0)
    key = (folder_key[0], packed_key[0], packed_key[1])
    cached = _runs.get(git_dir)
    if cached is not None and cached.key == key and _is_settled(folder_key):
        return cached.numbers
    numbers = []
    for name in ref_names(git_dir, RUNS_PREFIX):
        tail = name[len(RUNS_PREFIX) :]
        if tail.isdigit():
            numbers.append(int(tail))
    numbers.sort(reverse=True)
    with _lock:
        _runs[git_dir] = _RunNumbers(key, numbers)
    return numbers


_ARTIFACT_FIELDS = {item.name for item in fields(ArtifactRecord)}


def list_artifacts(
    repo: pygit2.Repository, git_dir: Path, run: int
) -> list[ArtifactRecord]:
    """Return a run's artifacts, read from their tags' messages.

    The message is a title line, a blank line and the JSON metadata, as the
    store writes it.
    """
    import pygit2

    records = []
    for name in ref_names(git_dir, f"{ARTIFACTS_PREFIX}{run}/"):
        reference = repo.references.get(name)
        if reference is None:
            continue
        tag = reference.peel(pygit2.Tag)
        if not isinstance(tag, pygit2.Tag) or "\n\n" not in tag.message:
            continue
        data = json.loads(tag.message.split("\n\n", 1)[1])
        values = {key: value for key, value in data.items() if key in _ARTIFACT_FIELDS}
        values["object_id"] = str(tag.target)
        records.append(ArtifactRecord(**values))
    return records
