"""``lightci hook pre-push`` and ``lightci hook post-commit``: the client hooks.

pre-push runs the pipeline of each commit about to be pushed, in the
foreground, and stops the push if a run fails. post-commit queues a run
of the new commit and returns at once. Runs happen in worktrees under
``.git/lightci/work``, so the user's working tree, index and stash are
never touched, and runs are recorded with the clone's id as their origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, TextIO

import pygit2

from lightci.builds import passed_tree
from lightci.errors import PipelineError
from lightci.queue import ZERO_ID, QueueEntry, enqueue
from lightci.records import PASSED, short_ref
from lightci.store import Store
from lightci.sync import PlacedRun, clone_id


@dataclass(frozen=True)
class PushUpdate:
    """One line of pre-push input: what git is about to push where."""

    local_ref: str
    local_commit: str
    remote_ref: str
    remote_commit: str


def parse_push_updates(lines: Iterable[str]) -> list[PushUpdate]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            updates.append(PushUpdate(*parts))
    return updates


def pre_push(
    store: Store,
    updates: list[PushUpdate],
    *,
    err: TextIO,
    echo: BinaryIO | None,
) -> int:
    """Run the pipeline of each pushed commit; return 1 if one failed, else 0."""
    origin = clone_id(store.repo)
    seen: set[tuple[str, str]] = set()
    for update in updates:
        commit = update.local_commit
        ref = (
            update.local_ref
            if update.local_ref.startswith("refs/")
            else update.remote_ref
        )
        # A branch and a tag at one commit both run: conditions may differ.
        if commit == ZERO_ID or (commit, ref) in seen:
            continue
        seen.add((commit, ref))
        reason = _skip_reason(store, commit, ref, update.remote_commit)
        if reason is not None:
            if reason:
                err.write(f"lightci: {reason}\n")
            continue
        old = (
            update.remote_commit
            if _has_commit(store.repo, update.remote_commit)
            else ZERO_ID
        )
        entry = QueueEntry(
            number=store.allocate_number(),
            ref=ref,
            old=old,
            new=commit,
            event="pre-push",
        )
        err.write(f"lightci: run {entry.number}: {short_ref(ref)} at {commit[:10]}\n")
        err.flush()
        from lightci.runner import run_in_foreground

        run = run_in_foreground(store, entry, origin=origin, echo=echo)
        if run.status != PASSED:
            detail = f": {run.message}" if run.message else ""
            err.write(
                f"lightci: run {run.number} {run.status}{detail}; the push is stopped "
                f"(`lightci show {run.number}` has the details, "
                "`git push --no-verify` pushes without this check)\n"
            )
            return 1
        err.write(f"lightci: run {run.number} passed\n")
    return 0


def _where(reused: PlacedRun, commit: str) -> str:
    """Name the run that passed, and its commit when that is another one."""
    if reused.run.commit == commit:
        return f"run {reused.place.label}"
    return f"run {reused.place.label}, built as commit {reused.run.commit[:10]}"


def _skip_reason(store: Store, commit: str, ref: str, remote_commit: str) -> str | None:
    """Return why ``commit`` needs no run ("" to skip quietly), or None to run it."""
    from lightci.changes import changed_paths
    from lightci.pipeline import load_pipeline
    from lightci.plan import RunContext, pipeline_matches

    try:
        found = store.read_pipeline(commit)
    except PipelineError:
        return None  # run it, so that the run records the problem
    except (KeyError, ValueError, pygit2.GitError):
        return ""
    if found is None:
        return ""
    reused = passed_tree(store, commit, ref=ref)
    if reused is not None:
        where = _where(reused, commit)
        return f"{commit[:10]} already passed ({where}); not running it again"
    filename, content = found
    try:
        pipeline = load_pipeline(content, filename)
    except PipelineError:
        return None  # run it, so the error is recorded and stops the push
    if pipeline.on is None:
        return None
    old = remote_commit if _has_commit(store.repo, remote_commit) else ZERO_ID
    paths = changed_paths(store.repo, old, commit, ref)
    context = RunContext(
        number=0, commit=commit, ref=ref, event="pre-push", changed_paths=paths
    )
    if pipeline_matches(pipeline, context):
        return None
    return f"no run for {short_ref(ref)}: {filename}'s `on:` filters do not match"


def _has_commit(repo: pygit2.Repository, commit: str) -> bool:
    if commit == ZERO_ID:
        return False
    try:
        repo[commit].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return False
    return True


def post_commit(store: Store) -> str | None:
    """Queue a run of HEAD and start the worker; return the line for the user."""
    from lightci.runner import record_queued
    from lightci.worker import spawn_worker

    repo = store.repo
    if _rewriting_history(store):
        return None
    try:
        head = repo.references["HEAD"].resolve()
        commit = str(head.peel(pygit2.Commit).id)
    except (KeyError, pygit2.GitError):
        return None
    try:
        if store.read_pipeline(commit) is None:
            return None
    except PipelineError:
        pass  # queue it anyway, so that the run records the problem
    ref = head.name if head.name.startswith("refs/") else "HEAD"
    reused = passed_tree(store, commit, ref=ref)
    if reused is not None:
        return f"{commit[:10]} already passed ({_where(reused, commit)}); no new run"
    entry = QueueEntry(
        number=store.allocate_number(),
        ref=ref,
        old=ZERO_ID,
        new=commit,
        event="post-commit",
    )
    # The record is written here, with the clone's id, before the worker
    # reads the entry, because the worker records queued runs without one.
    record_queued(store, entry, origin=clone_id(repo))
    enqueue(store.state_dir, entry)
    spawn_worker(store.git_dir)
    return f"run {entry.number} queued for {commit[:10]}: lightci show {entry.number}"


def _rewriting_history(store: Store) -> bool:
    """Return True while a rebase is in progress: its commits get no run each."""
    return any(
        (store.git_dir / name).exists() for name in ("rebase-merge", "rebase-apply")
    )
