"""``lightci run [REV]``: run the pipeline now, in the foreground."""

from __future__ import annotations

import sys

import pygit2

from lightci.errors import LightciError
from lightci.queue import ZERO_ID, QueueEntry
from lightci.records import RunRecord
from lightci.store import Store


def resolve_target(store: Store, rev: str) -> tuple[str, str]:
    """Return (commit, ref) for a revision; the ref is the branch HEAD names, if any."""
    repo = store.repo
    try:
        commit = str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise LightciError(
            f"unknown revision {rev!r}; give a commit, branch or tag"
        ) from exc
    ref = rev
    if rev == "HEAD":
        try:
            ref = repo.references["HEAD"].resolve().name
        except (KeyError, pygit2.GitError):
            ref = "HEAD"
    else:
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            if candidate in repo.references:
                ref = candidate
                break
    return commit, ref


def run_foreground(
    store: Store, rev: str, *, event: str = "manual", stream: bool = True
) -> RunRecord:
    """Run the pipeline of ``rev`` now, streaming output; Ctrl-C cancels it."""
    from lightci.sync import local_origin

    # A run recorded in a clone carries the clone's id, so that its note
    # line and its ref never collide with the server's run of that number.
    origin = local_origin(store.repo)

    commit, ref = resolve_target(store, rev)
    if store.read_pipeline(commit) is None:
        raise LightciError(
            f"commit {commit[:12]} has no .lightci.yml; write one with "
            "`lightci init` and commit it"
        )
    from lightci.runner import run_in_foreground

    number = store.allocate_number()
    entry = QueueEntry(number=number, ref=ref, old=ZERO_ID, new=commit, event=event)
    echo = sys.stdout.buffer if stream else None
    return run_in_foreground(store, entry, origin=origin, echo=echo)
