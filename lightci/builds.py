"""Results by tree: a finished run's result reused for every commit with its tree.

A rebase, an amend that only rewords, or a cherry-pick onto the same base
makes a new commit with the same tree, and the pipeline file is part of
that tree, so the old result holds. When a run finishes, its note line and
the commit it built go into a note on the commit's tree object, in
``refs/notes/lightci-trees``; ``lightci status`` falls back to it and the
pre-push hook skips a tree that already passed.

With ``git config lightci.appraiseNotes true``, a finished run also adds a
line to ``refs/notes/devtools/ci``, the CI report notes of git-appraise
(https://github.com/google/git-appraise, ``schema/ci.json``), so its tools
show lightci's results.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import pygit2

from lightci.errors import LightciError
from lightci.records import ERROR, FAILED, PASSED, TIMED_OUT, RunRecord, note_line
from lightci.settings import load_settings
from lightci.store import Store, note_key
from lightci.sync import (
    TREES_NOTES_REF,
    PlacedRun,
    foreign_places,
    note_lines,
    place_of_key,
    runs_of_commit,
)

logger = logging.getLogger("lightci.builds")

APPRAISE_NOTES_REF = "refs/notes/devtools/ci"

# A cancelled run tested nothing, so its result is not reused for the tree.
_REUSABLE = frozenset({PASSED, FAILED, ERROR, TIMED_OUT})


def tree_of(store: Store, commit: str) -> str:
    return str(store.repo[commit].peel(pygit2.Commit).tree_id)


def record_finished(store: Store, run: RunRecord) -> None:
    """Index a finished run by its tree, and add its git-appraise note if enabled.

    Failures are logged and not raised, because the run itself is already
    recorded and these notes are only a second way to find it.
    """
    if not run.is_finished:
        return
    try:
        _index_tree(store, run)
        if _appraise_enabled(store.repo):
            _append_appraise_note(store, run)
    except (pygit2.GitError, KeyError, ValueError, LightciError):
        logger.exception(
            "run %d: could not write its tree or appraise note", run.number
        )


def _index_tree(store: Store, run: RunRecord) -> None:
    line = f"{note_line(run)} commit {run.commit}"
    key = note_key(line)

    def edit(lines: list[str]) -> list[str]:
        kept = [item for item in lines if note_key(item) != key]
        return [*kept, line]

    store.edit_note(
        TREES_NOTES_REF,
        tree_of(store, run.commit),
        edit,
        message=f"lightci: run {run.number} {run.status} by tree\n",
    )


def _appraise_enabled(repo: pygit2.Repository) -> bool:
    try:
        value = str(repo.config["lightci.appraiseNotes"]).strip().lower()
    except KeyError:
        return False
    return value in ("true", "yes", "on", "1")


def appraise_report(store: Store, run: RunRecord) -> str:
    """Return the run as one git-appraise CI report line (compact JSON)."""
    url = load_settings(store.repo).url
    report = {
        "timestamp": f"{int(time.time()):010d}",
        "url": f"{url.rstrip('/')}/runs/{run.number}" if url else "",
        "status": "success" if run.status == PASSED else "failure",
        "agent": "lightci",
        "v": 0,
    }
    return json.dumps(report, separators=(",", ":"), sort_keys=True)


def _append_appraise_note(store: Store, run: RunRecord) -> None:
    line = appraise_report(store, run)
    store.edit_note(
        APPRAISE_NOTES_REF,
        run.commit,
        lambda lines: [*lines, line],
        message=f"lightci: run {run.number} {run.status}\n",
    )


@dataclass(frozen=True)
class CommitStatus:
    """The result that ``lightci status`` reports for a commit."""

    run: PlacedRun | None
    built_as: str | None = None  # another commit with the same tree


def commit_status(store: Store, commit: str) -> CommitStatus:
    """Return the commit's latest run, or else the latest finished run of its tree."""
    runs = runs_of_commit(store, commit)
    if runs:
        return CommitStatus(max(runs, key=lambda placed: placed.run.created))
    found = tree_results(store, commit)
    if not found:
        return CommitStatus(None)
    latest = max(found, key=lambda placed: placed.run.created)
    return CommitStatus(latest, built_as=latest.run.commit)


def tree_results(store: Store, commit: str) -> list[PlacedRun]:
    """Return the finished runs of any commit with the same tree as ``commit``."""
    try:
        tree = tree_of(store, commit)
    except (KeyError, ValueError):
        return []
    foreign = foreign_places(store)
    found = []
    for line in note_lines(store, tree, TREES_NOTES_REF):
        built, _, _ = line.rpartition(" commit ")[2].partition(" ")
        if not built:
            continue
        placed = place_of_key(store, note_key(line), built, foreign)
        if placed is not None and placed.run.status in _REUSABLE:
            found.append(placed)
    return found


def passed_tree(
    store: Store, commit: str, *, ref: str | None = None
) -> PlacedRun | None:
    """Return the newest passed run of ``commit``'s tree, if any.

    With ``ref``, only a run of that ref counts: conditions and filters in
    the pipeline may depend on the ref (a job only for tags, say), so a
    pass on a branch proves nothing about a push of a tag.
    """
    passed = [
        placed
        for placed in tree_results(store, commit)
        if placed.run.status == PASSED and (ref is None or placed.run.ref == ref)
    ]
    if not passed:
        return None
    return max(passed, key=lambda placed: placed.run.created)
