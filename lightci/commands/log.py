"""``lightci log``: run history, newest first, one line a run."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lightci.errors import LightciError
from lightci.output import relative_time, status_text
from lightci.records import (
    RecordError,
    RunRecord,
    format_duration,
    note_key,
    short_ref,
)

if TYPE_CHECKING:
    import pygit2

    from lightci.store import Store


def select_runs(
    store: Store,
    revs: Sequence[str],
    limit: int | None,
    warnings: list[str] | None = None,
) -> list[RunRecord]:
    """Return the runs to list, newest first.

    Without revisions, all runs by number. With revisions, the runs of the
    commits reachable from them, found through the commits' notes in
    ``git log`` order. A record this lightci cannot read is left out, and
    the reason added to ``warnings``.
    """
    if not revs:
        numbers = store.run_numbers()
        if limit is not None:
            numbers = numbers[:limit]
        runs = [_read(store, number, warnings) for number in numbers]
        return [run for run in runs if run is not None]
    return _runs_of_revisions(store, revs, limit, warnings)


def _read(store: Store, number: int, warnings: list[str] | None) -> RunRecord | None:
    try:
        return store.read_run(number)
    except RecordError as exc:
        if warnings is not None:
            warnings.append(str(exc))
        return None


def walk_revisions(store: Store, revs: Sequence[str]) -> Iterator[pygit2.Commit]:
    """Yield the commits reachable from ``revs`` in ``git log`` order."""
    import pygit2

    repo = store.repo
    walker = repo.walk(
        None, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME
    )
    for rev in revs:
        try:
            walker.push(repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise LightciError(
                f"unknown revision {rev!r}; give a commit, branch or tag"
            ) from exc
    yield from walker


def _runs_of_revisions(
    store: Store, revs: Sequence[str], limit: int | None, warnings: list[str] | None
) -> list[RunRecord]:
    runs: list[RunRecord] = []
    for commit in walk_revisions(store, revs):
        note = store.read_note(str(commit.id))
        if not note:
            continue
        numbers = []
        for line in note.splitlines():
            key = note_key(line).split(" ")
            if len(key) == 2 and key[1].isdigit():
                numbers.append(int(key[1]))
        for number in sorted(numbers, reverse=True):
            run = _read(store, number, warnings)
            if run is not None:
                runs.append(run)
        if limit is not None and len(runs) >= limit:
            return runs[:limit]
    return runs


def recent_runs(
    git_dir: Path, limit: int | None, warnings: list[str] | None = None
) -> tuple[list[RunRecord], dict[str, str]]:
    """Return the newest runs and their commits' subjects, without pygit2."""
    from lightci.gitread import GitReader

    with GitReader(git_dir) as reader:
        numbers = reader.run_numbers()
        waiting = _unrecorded_entries(git_dir, set(numbers))
        wanted = sorted([*numbers, *waiting], reverse=True)
        if limit is not None:
            wanted = wanted[:limit]
        recorded = set(numbers)
        runs = reader.read_runs([number for number in wanted if number in recorded])
        runs.extend(waiting[number] for number in wanted if number in waiting)
        runs.sort(key=lambda run: run.number, reverse=True)
        subjects = reader.subjects(sorted({run.commit for run in runs}))
        if warnings is not None:
            warnings.extend(reader.warnings)
    return runs, subjects


def _unrecorded_entries(git_dir: Path, recorded: set[int]) -> dict[int, RunRecord]:
    """Return queued runs that have a queue entry but no record yet, by number.

    The hook writes a queue entry; the worker writes the first record a
    moment later. In between, the run is shown from its entry.
    """
    from lightci import queue

    waiting = {}
    for entry in queue.read_entries(git_dir / "lightci"):
        if entry.number not in recorded:
            waiting[entry.number] = RunRecord(
                number=entry.number, commit=entry.new, ref=entry.ref, event=entry.event
            )
    return waiting


def format_log(
    runs: Sequence[RunRecord], subjects: Mapping[str, str], *, colour: bool
) -> str:
    lines = []
    for run in runs:
        subject = subjects.get(run.commit, "")[:60]
        number = f"#{run.number}".ljust(6)
        lines.append(
            f"{number} {status_text(run.status, colour=colour, width=9)} "
            f"{run.commit[:10]}  {short_ref(run.ref)[:24]:<24} {run.event:<11} "
            f"{format_duration(run.duration):>7}  {relative_time(run.created):<15} "
            f"{subject}"
        )
    return "".join(line.rstrip() + "\n" for line in lines)


def subjects_of(store: Store, runs: Sequence[RunRecord]) -> dict[str, str]:
    import pygit2

    subjects = {}
    for run in runs:
        try:
            message = store.repo[run.commit].peel(pygit2.Commit).message
        except (KeyError, ValueError, pygit2.GitError):
            continue
        subjects[run.commit] = str(message).split("\n", 1)[0]
    return subjects


def format_log_json(store: Store, runs: Sequence[RunRecord]) -> str:
    full = [store.read_run(run.number, with_jobs=True) or run for run in runs]
    return json.dumps([run.to_dict() for run in full], indent=2) + "\n"
