"""Commands for runs of several places: remote setup, sync, and run ids.

``log``, ``show``, ``logs`` and ``status`` use the functions here to name
runs of other places as ``REMOTE/N`` or ``CLONE-ID/N``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pygit2

from lightci.errors import LightciError
from lightci.output import relative_time, status_text
from lightci.records import (
    RunRecord,
    format_duration,
    short_ref,
)
from lightci.store import Store
from lightci.sync import (
    PlacedRun,
    RunPlace,
    all_runs,
    foreign_places,
    read_clone_id,
    read_placed,
    resolve_run_id,
    runs_of_commit,
    setup_remote,
    sync,
)


def remote_setup(store: Store, remote: str) -> list[str]:
    """Add lightci's fetch refspecs to ``remote``; return lines for the user."""
    added = setup_remote(store, remote)
    if not added:
        return [f"{remote} already fetches lightci's refs"]
    lines = [f"added to remote.{remote}.fetch: {refspec}" for refspec in added]
    lines.append(f"`git fetch {remote}` now brings its runs; `lightci log` shows them")
    return lines


def sync_remote(store: Store, remote: str | None) -> list[str]:
    """Sync lightci's records with a remote; return lines for the user."""
    result = sync(store, remote)
    lines = list(result.messages)
    runs = f"{result.pushed_runs} local runs" if result.pushed_runs else "no local runs"
    lines.append(f"synced with {result.remote}: {runs} pushed, notes merged")
    return lines


def has_other_places(repo_path: Path | None) -> bool:
    """Check, without opening the repository, whether other places' runs may be here.

    Returns True when refs under ``refs/lightci/remotes/`` or
    ``refs/lightci/clones/`` may exist; a leftover empty folder also counts.
    """
    from lightci import gitread

    try:
        git_dir = gitread.find_git_dir(repo_path)
    except LightciError:
        return False
    return gitread.has_other_places(git_dir)


def places_log(
    repo_path: Path | None,
    revs: Sequence[str],
    limit: int | None,
    *,
    as_json: bool,
    colour: bool,
) -> str | None:
    """Return the run history with other places' runs marked by place.

    Returns None when this repository has nothing from other places and no
    clone id, so the plain log applies.
    """
    if not revs and not has_other_places(repo_path):
        return None
    store = Store.open(repo_path)
    if revs and read_clone_id(store.repo) is None and not foreign_places(store):
        return None
    runs = _runs_of_revisions(store, revs) if revs else _newest_first(all_runs(store))
    if limit is not None:
        runs = runs[:limit]
    if as_json:
        full = []
        for placed in runs:
            run = read_placed(store, placed.place, with_jobs=True) or placed.run
            full.append({"id": placed.place.label, **run.to_dict()})
        return json.dumps(full, indent=2) + "\n"
    return format_places_log(store, runs, colour=colour)


def _newest_first(runs: list[PlacedRun]) -> list[PlacedRun]:
    return sorted(runs, key=lambda placed: placed.run.created, reverse=True)


def _runs_of_revisions(store: Store, revs: Sequence[str]) -> list[PlacedRun]:
    from lightci.commands.log import walk_revisions

    runs: list[PlacedRun] = []
    for commit in walk_revisions(store, revs):
        runs.extend(_newest_first(runs_of_commit(store, str(commit.id))))
    return runs


def format_places_log(store: Store, runs: Sequence[PlacedRun], *, colour: bool) -> str:
    """Format one line a run, like ``lightci log``, with the run id first.

    Local runs show as ``#12``, other places' runs by their id, e.g.
    ``origin/12`` or ``alice@laptop-1a2b/3``.
    """
    labels = [
        f"#{placed.run.number}" if placed.place.is_local else placed.place.label
        for placed in runs
    ]
    width = max([6, *(len(label) for label in labels)])
    lines = []
    for label, placed in zip(labels, runs, strict=True):
        run = placed.run
        lines.append(
            f"{label:<{width}} {status_text(run.status, colour=colour, width=9)} "
            f"{run.commit[:10]}  {short_ref(run.ref)[:24]:<24} {run.event:<11} "
            f"{format_duration(run.duration):>7}  {relative_time(run.created):<15} "
            f"{_subject(store.repo, run.commit)}"
        )
    return "".join(line.rstrip() + "\n" for line in lines)


def _subject(repo: pygit2.Repository, commit: str) -> str:
    try:
        found = repo[commit]
    except (KeyError, ValueError):
        return ""
    if not isinstance(found, pygit2.Commit):
        return ""
    return str(found.message).split("\n", 1)[0][:60]


def show_placed(store: Store, run_id: str, *, as_json: bool, colour: bool) -> str:
    """Format ``lightci show`` for a run named by id, e.g. ``origin/12``."""
    from lightci.commands.show import show_json, show_text

    place = resolve_run_id(store, run_id)
    run = _require_placed(store, place)
    artifacts = store.list_artifacts_under(place.artifacts_prefix)
    if as_json:
        return show_json(store, run, artifacts=artifacts, label=place.label)
    return show_text(store, run, colour=colour, artifacts=artifacts, label=place.label)


def _require_placed(store: Store, place: RunPlace) -> RunRecord:
    run = read_placed(store, place, with_jobs=True)
    if run is None:
        raise LightciError(
            f"run {place.label} not found in {store.git_dir}; `lightci log` lists "
            "the recorded runs"
        )
    return run


def print_placed_logs(
    store: Store,
    run_id: str,
    job: str | None,
    *,
    write: Callable[[bytes], None],
    follow: bool,
    headers: bool,
) -> None:
    """Write the logs of a run named by id, as fetched or pushed here."""
    from lightci.commands.logs import pick_jobs, print_logs

    place = resolve_run_id(store, run_id)
    if place.is_local:
        print_logs(
            store, place.number, job, write=write, follow=follow, headers=headers
        )
        return
    # NOTE: a run of another place is a copy from the last fetch, so --follow
    # prints that copy and stops; `lightci sync` brings newer output.
    run = _require_placed(store, place)
    for record in pick_jobs(run, job):
        if headers:
            write(f"==> {record.name} ({record.status}) <==\n".encode())
        write(store.read_log_at(place.ref, record.slug) or b"")


def status_report(
    store: Store, rev: str, *, as_json: bool, colour: bool
) -> tuple[str, int]:
    """Return ``lightci status`` output for ``rev`` and its exit code.

    A commit with no run of its own reports the latest finished run of a
    commit with the same tree, and names that commit.
    """
    from lightci.builds import commit_status
    from lightci.commands.status import exit_code_for, queued_run, resolve_commit

    commit = resolve_commit(store, rev)
    result = commit_status(store, commit)
    placed = result.run
    run = placed.run if placed is not None else None
    if placed is None:
        waiting = queued_run(store, commit)
        if waiting is not None:
            if as_json:
                return json.dumps(waiting.to_dict(), indent=2) + "\n", exit_code_for(
                    waiting
                )
            status = status_text(waiting.status, colour=colour)
            text = f"{commit[:10]}: {status} (run {waiting.number})\n"
            return text, exit_code_for(waiting)
    if as_json:
        data = None
        if placed is not None:
            data = {"id": placed.place.label, **placed.run.to_dict()}
            if result.built_as is not None:
                data["built_as"] = result.built_as
        return json.dumps(data, indent=2) + "\n", exit_code_for(run)
    if placed is None:
        return f"{commit[:10]}: no run\n", exit_code_for(None)
    status = status_text(placed.run.status, colour=colour)
    where = f"run {placed.place.label}"
    if result.built_as is not None:
        where += f", built as commit {result.built_as[:10]}"
    return f"{commit[:10]}: {status} ({where})\n", exit_code_for(run)
