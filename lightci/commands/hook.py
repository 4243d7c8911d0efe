"""``lightci hook post-receive``: queue runs for a push (the hook's slow path).

The shell hook handles pushes of pipelines it has seen before that have no
trigger filters. Everything else comes here: the first push of a pipeline,
pipelines with ``on:`` filters or concurrency groups, and invalid ones.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from pathlib import Path

import pygit2

from lightci.errors import PipelineError
from lightci.queue import ZERO_ID, QueueEntry, enqueue
from lightci.records import short_ref
from lightci.settings import viewer_url
from lightci.store import PIPELINE_FILES, Store

logger = logging.getLogger("lightci.hook")


def parse_updates(lines: Iterable[str]) -> list[tuple[str, str, str]]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates


def post_receive(store: Store, updates: list[tuple[str, str, str]]) -> list[str]:
    """Queue a run for each eligible update; return the lines for the pusher."""
    from lightci.changes import changed_paths
    from lightci.concurrency import claim_for_entry, pipeline_uses_concurrency
    from lightci.pipeline import load_pipeline
    from lightci.plan import RunContext, pipeline_matches

    messages: list[str] = []
    queued = False
    url = viewer_url(store.repo)
    for old, new, ref in updates:
        if new == ZERO_ID or not ref.startswith(("refs/heads/", "refs/tags/")):
            continue
        try:
            commit = str(store.repo.revparse_single(new).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        problem = None
        try:
            found = store.read_pipeline(commit)
            if found is None:
                continue
            filename, content = found
            pipeline = load_pipeline(content, filename)
        except PipelineError as exc:
            problem = exc.format()
        if problem is None:
            paths = None
            if pipeline.on is not None and (
                pipeline.on.paths or pipeline.on.paths_ignore
            ):
                paths = changed_paths(store.repo, old, commit, ref)
            context = RunContext(
                number=0, commit=commit, ref=ref, event="push", changed_paths=paths
            )
            if not pipeline_matches(pipeline, context):
                messages.append(
                    f"no run for {short_ref(ref)}: {filename}'s `on:` filters "
                    "do not match this push"
                )
                continue
            if pipeline.on is None and not pipeline_uses_concurrency(pipeline):
                # A pipeline with concurrency groups must come here on every
                # push, so that the groups are recorded and claimed.
                _remember_plain(store, commit)
        number = store.allocate_number()
        entry = QueueEntry(number=number, ref=ref, old=old, new=new, event="push")
        enqueue(store.state_dir, entry)
        queued = True
        cancelled = claim_for_entry(store, entry) if problem is None else []
        where = f"{url.rstrip('/')}/runs/{number}" if url else f"lightci show {number}"
        line = f"run {number} queued for {short_ref(ref)} ({commit[:10]}): {where}"
        if problem is not None:
            line += (
                "\n  but its pipeline is invalid and the run will end as error:"
                f"\n  {problem}"
            )
        messages.append(line)
        messages.extend(cancelled)
    if queued:
        from lightci.worker import spawn_worker

        spawn_worker(store.git_dir)
    return messages


def _remember_plain(store: Store, commit: str) -> None:
    """Mark the commit's pipeline blob as filter-free, for the shell fast path."""
    tree = store.repo[commit].peel(pygit2.Commit).tree
    for name in PIPELINE_FILES:
        try:
            blob = tree[name]
        except KeyError:
            continue
        folder = store.state_dir / "pipelines"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{blob.id}.plain").touch()
        return


def log_hook_failure(git_dir: Path) -> None:
    try:
        with open(git_dir / "lightci" / "hook.log", "a") as handle:
            handle.write(traceback.format_exc())
    except OSError:
        pass
