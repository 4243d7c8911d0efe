"""The repositories a viewer serves, by name, with one Store per thread.

A repository's name is its folder name without ``.git`` (for a repository
with a work tree, the work tree's folder name), so that ``lightci.url`` set
to ``http://host:port/<name>`` points at its pages.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from lightci.errors import LightciError
from lightci.store import Store

# A root folder is listed again at most this often when a name is not found,
# so a repository created after the start shows up without a restart.
_RESCAN_SECONDS = 2.0

# Names become the first part of URL paths and must not clash with the
# viewer's own prefixes.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
RESERVED_NAMES = frozenset({"api", "static", "favicon.ico"})


@dataclass(frozen=True)
class Repository:
    name: str
    git_dir: Path


def repository_name(git_dir: Path) -> str:
    """Return the viewer's name for a repository given its git folder."""
    folder = git_dir.parent if git_dir.name == ".git" else git_dir
    name = folder.name
    return name[: -len(".git")] if name.endswith(".git") else name


def _git_dir(path: Path) -> Path | None:
    found = pygit2.discover_repository(str(path))
    return Path(found).resolve() if found else None


def _is_bare_repository(path: Path) -> bool:
    if not ((path / "HEAD").is_file() and (path / "objects").is_dir()):
        return False
    return (path / "refs").is_dir()


class Registry:
    """Finds repositories by name and hands each thread its own Store.

    pygit2 Repository objects are not safe to share between threads, so each
    server thread opens its own, once per repository, and keeps it.
    """

    def __init__(self, targets: list[Path], root: Path | None = None) -> None:
        self.root = root.resolve() if root is not None else None
        self._fixed: dict[str, Repository] = {}
        for target in targets:
            git_dir = _git_dir(target)
            if git_dir is None:
                raise LightciError(
                    f"not a git repository: {target}; pass the path of a "
                    "repository, or --root FOLDER to serve every bare "
                    "repository in FOLDER"
                )
            self._add(self._fixed, Repository(repository_name(git_dir), git_dir))
        if self.root is not None and not self.root.is_dir():
            raise LightciError(f"--root {root}: folder not found")
        self._scanned: dict[str, Repository] = {}
        self._scanned_at = 0.0
        self._scan_lock = threading.Lock()
        self._local = threading.local()
        self._scan()

    def _add(self, table: dict[str, Repository], repository: Repository) -> None:
        name = repository.name
        if not _NAME.match(name) or name in RESERVED_NAMES:
            raise LightciError(
                f"cannot serve {repository.git_dir}: its name {name!r} is not "
                "usable in URLs; rename the folder to letters, digits, '.', "
                "'_' or '-'"
            )
        other = table.get(name) or self._fixed.get(name)
        if other is not None and other.git_dir != repository.git_dir:
            raise LightciError(
                f"two repositories are named {name!r}: {other.git_dir} and "
                f"{repository.git_dir}; serve them from separate viewers"
            )
        table[name] = repository

    def _scan(self) -> None:
        if self.root is None:
            return
        found: dict[str, Repository] = {}
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or not _is_bare_repository(path):
                continue
            repository = Repository(repository_name(path), path.resolve())
            if not _NAME.match(repository.name) or repository.name in RESERVED_NAMES:
                continue
            if repository.name in self._fixed or repository.name in found:
                continue
            found[repository.name] = repository
        self._scanned = found
        self._scanned_at = time.monotonic()

    def repositories(self) -> list[Repository]:
        """Return every served repository, sorted by name."""
        self._rescan_if_stale()
        table = {**self._scanned, **self._fixed}
        return [table[name] for name in sorted(table)]

    def get(self, name: str) -> Repository | None:
        repository = self._fixed.get(name) or self._scanned.get(name)
        if repository is None and self._rescan_if_stale():
            repository = self._scanned.get(name)
        return repository

    def _rescan_if_stale(self) -> bool:
        if self.root is None:
            return False
        with self._scan_lock:
            if time.monotonic() - self._scanned_at < _RESCAN_SECONDS:
                return False
            self._scan()
            return True

    def store(self, repository: Repository) -> Store:
        """Return this thread's Store for a repository."""
        stores: dict[Path, Store] | None = getattr(self._local, "stores", None)
        if stores is None:
            stores = self._local.stores = {}
        store = stores.get(repository.git_dir)
        if store is None:
            store = Store(pygit2.Repository(str(repository.git_dir)))
            stores[repository.git_dir] = store
        return store
