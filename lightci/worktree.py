"""Detached worktrees of the commit under test, one per job.

The worktrees are registered in a small bare repository of lightci's own,
``<git dir>/lightci/workspaces.git``, which borrows the real repository's
objects through ``objects/info/alternates`` and has no refs. Registered in
the real repository instead, a worktree's HEAD becomes part of what
``git receive-pack`` checks on every push, and a push that arrives while
``git worktree add`` has written only a placeholder HEAD is rejected with
"bad object worktrees/<name>/HEAD". The user's own ``git worktree list``
stays free of lightci's workspaces too.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lightci.process import CommandError, git, git_text


@contextmanager
def _locked(git_dir: Path) -> Iterator[None]:
    """Hold lightci's worktree lock: one add, remove or prune at a time.

    ``git worktree prune`` deletes the admin folder of a worktree that
    ``git worktree add`` is still creating, so parallel jobs must not
    overlap these commands.
    """
    state = git_dir / "lightci"
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(state / "workspaces.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def workspace_repository(git_dir: Path) -> Path:
    """Return lightci's worktree repository for ``git_dir``, creating it once."""
    helper = git_dir / "lightci" / "workspaces.git"
    alternates = helper / "objects" / "info" / "alternates"
    if alternates.exists():
        return helper
    with _locked(git_dir):
        if not alternates.exists():
            objects = Path(git_text(git_dir, "rev-parse", "--git-path", "objects"))
            if not objects.is_absolute():
                objects = git_dir / objects
            git(git_dir, "init", "--quiet", "--bare", str(helper))
            temporary = alternates.with_name("alternates.tmp")
            temporary.write_text(f"{objects.resolve()}\n")
            os.replace(temporary, alternates)
    return helper


def add_worktree(git_dir: Path, path: Path, commit: str) -> None:
    """Check ``commit`` out at ``path`` as a detached worktree.

    Only the registration runs under the lock; the checkout of the files,
    the slow part, runs outside it.
    """
    helper = workspace_repository(git_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        remove_worktree(git_dir, path)
    with _locked(git_dir):
        git(
            helper,
            "worktree",
            "add",
            "--detach",
            "--no-checkout",
            "--quiet",
            str(path),
            commit,
        )
    git(_admin_dir(path), "reset", "--hard", "--quiet", work_tree=path)


def _admin_dir(path: Path) -> Path:
    """Return the worktree's own git dir, named in the ``.git`` file git wrote."""
    text = (path / ".git").read_text().strip()
    return Path(text.removeprefix("gitdir:").strip())


def remove_worktree(git_dir: Path, path: Path) -> None:
    """Remove a worktree and git's record of it, even if it is half gone."""
    helper = workspace_repository(git_dir)
    with _locked(git_dir):
        with suppress(CommandError):
            git(helper, "worktree", "remove", "--force", "--force", str(path))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        git(helper, "worktree", "prune", check=False)


@contextmanager
def worktree(git_dir: Path, path: Path, commit: str) -> Iterator[Path]:
    """Check ``commit`` out at ``path`` for the duration of the block."""
    add_worktree(git_dir, path, commit)
    try:
        yield path
    finally:
        remove_worktree(git_dir, path)
