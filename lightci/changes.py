"""The paths a push changed, for the pipeline's path filters."""

from __future__ import annotations

import pygit2

from lightci.queue import ZERO_ID


def changed_paths(
    repo: pygit2.Repository, old: str, new: str, ref: str
) -> tuple[str, ...] | None:
    """Return the paths changed by moving ``ref`` from ``old`` to ``new``.

    A new branch is compared with its merge base with the default branch
    (the repository's HEAD). None means the changes are unknown (a new tag,
    or a branch with no common history), and then every path filter matches.
    """
    try:
        new_commit = repo.revparse_single(new).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    base_commit: pygit2.Commit | None = None
    if old != ZERO_ID:
        try:
            base_commit = repo.revparse_single(old).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            base_commit = None
    elif ref.startswith("refs/heads/"):
        base_commit = _merge_base_with_default(repo, new_commit, ref)
    if base_commit is None:
        return None
    diff = repo.diff(base_commit, new_commit)
    paths: set[str] = set()
    for delta in diff.deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
    return tuple(sorted(paths))


def _merge_base_with_default(
    repo: pygit2.Repository, commit: pygit2.Commit, ref: str
) -> pygit2.Commit | None:
    try:
        head = repo.references["HEAD"].resolve()
    except (KeyError, pygit2.GitError):
        return None
    if head.name == ref:
        return None
    base = repo.merge_base(head.target, commit.id)
    if base is None:
        return None
    found = repo[base]
    return found if isinstance(found, pygit2.Commit) else None
