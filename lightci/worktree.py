"""Detached worktrees of the commit under test, one per job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lightci.process import CommandError, git


def add_worktree(git_dir: Path, path: Path, commit: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        remove_worktree(git_dir, path)
    git(git_dir, "worktree", "add", "--detach", "--force", "--quiet", str(path), commit)


def remove_worktree(git_dir: Path, path: Path) -> None:
    """Remove a worktree and git's record of it, even if it is half gone."""
    with suppress(CommandError):
        git(git_dir, "worktree", "remove", "--force", "--force", str(path))
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git(git_dir, "worktree", "prune", check=False)


@contextmanager
def worktree(git_dir: Path, path: Path, commit: str) -> Iterator[Path]:
    """Check ``commit`` out at ``path`` for the duration of the block."""
    add_worktree(git_dir, path, commit)
    try:
        yield path
    finally:
        remove_worktree(git_dir, path)
