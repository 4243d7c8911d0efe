"""Job caches: folders kept between runs under a key, outside git.

A job's ``cache`` entries name a key and the paths to keep. Before the
steps, the folder saved under the key, if any, is copied into the
workspace ("cache hit"). After the steps, the paths are saved under the key
when the job passed and the key was a miss. A failed job saves nothing, as
in GitHub Actions. Entries live in ``<git_dir>/lightci/cache/``
and never in a git object. Their total size is capped by
``git config lightci.cacheSize`` (default 1 GiB); past it, the entries
used least recently are evicted.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lightci.errors import LightciError
from lightci.logs import LogSink
from lightci.plan import CacheSpec
from lightci.records import PASSED
from lightci.store import Store

logger = logging.getLogger("lightci.cache")

DEFAULT_CACHE_SIZE = 1024**3
_HASH_FILES_CALL = re.compile(r"\$\{\{\s*hashFiles\((.*?)\)\s*\}\}", re.DOTALL)
_QUOTED_ARGUMENT = re.compile(r"""'((?:[^']|'')*)'|"((?:[^"\\]|\\.)*)\"""")


def hash_files(workspace: Path, patterns: Sequence[str]) -> str:
    """Return the sha256 of the files matching ``patterns``, by path and content.

    Returns empty text when no file matches, as GitHub Actions does.
    """
    matches: set[str] = set()
    for pattern in patterns:
        for relative in glob.glob(pattern, root_dir=workspace, recursive=True):
            path = workspace / relative
            parts = Path(relative).parts
            if ".git" in parts or not path.is_file():
                continue
            matches.add(Path(relative).as_posix())
    if not matches:
        return ""
    digest = hashlib.sha256()
    for relative in sorted(matches):
        digest.update(relative.encode() + b"\0")
        with (workspace / relative).open("rb") as handle:
            file_digest = hashlib.file_digest(handle, "sha256")
        digest.update(file_digest.digest())
    return digest.hexdigest()


def _arguments(text: str) -> list[str]:
    values = []
    for match in _QUOTED_ARGUMENT.finditer(text):
        single, double = match.groups()
        if single is not None:
            values.append(single.replace("''", "'"))
        else:
            values.append(re.sub(r"\\(.)", r"\1", double))
    return values


def cache_key(template: str, workspace: Path) -> str:
    """Fill each ``${{ hashFiles(...) }}`` of a planned key in the workspace."""
    return _HASH_FILES_CALL.sub(
        lambda match: hash_files(workspace, _arguments(match.group(1))), template
    )


def cache_size_limit(store: Store) -> int:
    """Return ``lightci.cacheSize`` in bytes (k, m and g suffixes allowed)."""
    try:
        raw = str(store.repo.config["lightci.cacheSize"])
    except KeyError:
        return DEFAULT_CACHE_SIZE
    from lightci.settings import parse_size

    try:
        return parse_size(raw)
    except ValueError:
        raise LightciError(
            f"git config lightci.cacheSize is {raw!r}, not a size in bytes; "
            "fix it with `git config lightci.cacheSize 1g`"
        ) from None


class CacheStore:
    """The cache folder of one repository: ``entries/<sha256 of key>/``.

    Each entry has ``meta.json`` (key, paths, size) and ``files/`` with the
    saved paths. The modification time of ``meta.json`` is the entry's last
    use, for eviction.
    """

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        self.entries = root / "entries"
        self.temporary = root / "tmp"

    @classmethod
    def for_store(cls, store: Store) -> CacheStore:
        return cls(store.state_dir / "cache", cache_size_limit(store))

    def entry(self, key: str) -> Path:
        return self.entries / hashlib.sha256(key.encode()).hexdigest()

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def restore(self, key: str, workspace: Path) -> bool:
        """Copy the entry of ``key`` into the workspace; return whether it exists."""
        with self._lock():
            entry = self.entry(key)
            meta = entry / "meta.json"
            if not meta.is_file():
                return False
            os.utime(meta)
            files = entry / "files"
            for source in sorted(files.iterdir()) if files.is_dir() else []:
                _copy(source, workspace / source.name)
            return True

    def save(self, key: str, paths: Sequence[str], workspace: Path) -> int | None:
        """Save ``paths`` of the workspace under ``key``; return the size in bytes.

        Returns None when another job saved the key first. The entry is
        written to a temporary folder and renamed into place, so a reader
        never sees half of it and two writers of one key cannot mix theirs.
        """
        self.temporary.mkdir(parents=True, exist_ok=True)
        staging = self.temporary / uuid.uuid4().hex
        files = staging / "files"
        files.mkdir(parents=True)
        try:
            for relative in paths:
                source = workspace / relative
                if source.exists() or source.is_symlink():
                    _copy(source, files / relative)
            size = _folder_size(files)
            meta = {"format": 1, "key": key, "paths": list(paths), "size": size}
            (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            with self._lock():
                self.entries.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(staging, self.entry(key))
                except OSError:
                    return None
                self._evict(keep=self.entry(key))
            return size
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _evict(self, keep: Path) -> None:
        """Remove least recently used entries until the total fits the limit."""
        found = []
        for entry in self.entries.iterdir():
            try:
                meta = entry / "meta.json"
                size = json.loads(meta.read_text())["size"]
                found.append((meta.stat().st_mtime, entry, int(size)))
            except (OSError, ValueError, KeyError):
                continue
        total = sum(size for _, _, size in found)
        for _, entry, size in sorted(found):
            if total <= self.limit:
                return
            if entry == keep:
                continue
            doomed = self.temporary / f"evicted-{uuid.uuid4().hex}"
            os.rename(entry, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            total -= size
            logger.info("cache entry %s evicted (%d bytes)", entry.name, size)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        if target.is_symlink() or target.is_file():
            target.unlink()
        shutil.copy2(source, target, follow_symlinks=False)


def _folder_size(folder: Path) -> int:
    total = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            total += os.lstat(os.path.join(directory, name)).st_size
    return total


class CacheHooks:
    """Restores a job's caches before its steps and saves them after a pass."""

    def __init__(self, store: Store, caches: Sequence[CacheSpec]) -> None:
        self.caches = caches
        self.cache_store = CacheStore.for_store(store)
        self.keys: list[tuple[str, CacheSpec]] = []
        self.hits: set[str] = set()

    def before_steps(self, workspace: Path, log: LogSink) -> None:
        # Keys are computed once, before the steps, so a step that rewrites a
        # hashed file (a lock file) does not change where the cache is saved.
        self.keys = [
            (cache_key(spec.key_template, workspace), spec) for spec in self.caches
        ]
        for key, _ in self.keys:
            try:
                hit = self.cache_store.restore(key, workspace)
            except OSError as exc:
                logger.warning("cache %s could not be restored: %s", key, exc)
                hit = False
            if hit:
                self.hits.add(key)
                log.write(f"[lightci: cache hit {key}]\n".encode())
            else:
                log.write(f"[lightci: cache miss {key}]\n".encode())

    def after_steps(self, workspace: Path, status: str, log: LogSink) -> None:
        if status != PASSED:
            return
        for key, spec in self.keys:
            if key in self.hits:
                continue
            if not any((workspace / path).exists() for path in spec.paths):
                paths = ", ".join(spec.paths)
                message = f"[lightci: cache {key} not saved: none of {paths} exists]\n"
                log.write(message.encode())
                continue
            size = self.cache_store.save(key, spec.paths, workspace)
            if size is None:
                log.write(f"[lightci: cache {key} was saved by another job]\n".encode())
                continue
            log.write(f"[lightci: cache saved {key} ({size} bytes)]\n".encode())
            logger.info("cache %s saved (%d bytes)", key, size)
