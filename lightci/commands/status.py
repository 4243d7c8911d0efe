"""``lightci status [REV]``: the status of a commit's latest run."""

from __future__ import annotations

import pygit2

from lightci.errors import LightciError
from lightci.records import FAILED, PASSED, RunRecord, note_key
from lightci.store import Store

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_NONE = 2


def resolve_commit(store: Store, rev: str) -> str:
    try:
        return str(store.repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise LightciError(
            f"unknown revision {rev!r}; give a commit, branch or tag"
        ) from exc


def latest_run(store: Store, commit: str) -> RunRecord | None:
    """Return the newest run recorded for ``commit``, from its note."""
    note = store.read_note(commit) or ""
    numbers = []
    for line in note.splitlines():
        key = note_key(line).split(" ")
        if len(key) == 2 and key[1].isdigit():
            numbers.append(int(key[1]))
    for number in sorted(numbers, reverse=True):
        run = store.read_run(number, with_jobs=True)
        if run is not None:
            return run
    return None


def exit_code_for(run: RunRecord | None) -> int:
    if run is None or not run.is_finished:
        return EXIT_NONE
    return EXIT_PASSED if run.status == PASSED else EXIT_FAILED


__all__ = ["FAILED", "exit_code_for", "latest_run", "resolve_commit"]


def queued_run(store: Store, commit: str) -> RunRecord | None:
    """Return the newest run of ``commit`` that has a queue entry but no record.

    Between the hook writing a queue entry and the worker writing the run's
    first record and note, this is where the run shows.
    """
    from lightci import queue

    for entry in reversed(queue.read_entries(store.state_dir)):
        try:
            peeled = str(store.repo.revparse_single(entry.new).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        if peeled == commit:
            return RunRecord(
                number=entry.number, commit=commit, ref=entry.ref, event=entry.event
            )
    return None
