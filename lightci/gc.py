"""``lightci gc``: drop runs and artifacts past their retention.

What it removes:

- artifact refs whose ``expires`` time has passed;
- finished runs older than ``lightci.retentionDays`` days (by their finish
  time), and finished runs beyond the newest ``lightci.keepRuns``, with their
  artifacts;
- state files of finished runs (cancel flags, concurrency groups) and run
  number claims more than 1000 below the highest number handed out.

The notes under ``refs/notes/lightci`` stay: they are the one-line summary
history of each commit, and they cost a few bytes per run. Deleting the refs
makes the objects unreachable, and ``lightci gc --prune`` then removes them
with ``git gc --prune=now``, with the worker kept out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2

from lightci.errors import LightciError
from lightci.records import FINISHED_STATUSES, parse_time
from lightci.settings import load_settings
from lightci.store import ARTIFACTS_PREFIX, RUNS_PREFIX, Store

# Claims this far below the highest run number are no longer needed to keep
# numbers unique, because ``next-run`` and the run refs are above them.
CLAIM_MARGIN = 1000


@dataclass(frozen=True)
class Policy:
    retention_days: float | None
    keep_runs: int | None


def load_policy(store: Store) -> Policy:
    try:
        raw = str(store.repo.config["lightci.keepRuns"])
    except KeyError:
        raw = None
    keep_runs = None
    if raw is not None:
        if not raw.strip().isdigit():
            raise LightciError(
                f"git config lightci.keepRuns is {raw!r}, not a whole number; "
                "fix it with `git config lightci.keepRuns N`"
            )
        keep_runs = int(raw)
    return Policy(load_settings(store.repo).retention_days, keep_runs)


def collect(
    store: Store, *, dry_run: bool = False, now: datetime | None = None
) -> list[str]:
    """Delete what is past retention and return one line per removed item."""
    moment = now or datetime.now(UTC)
    policy = load_policy(store)
    lines: list[str] = []
    doomed_runs = _expired_runs(store, policy, moment)
    for number, why in doomed_runs:
        lines.append(f"run {number} ({why})")
        if not dry_run:
            _delete_refs(store, [f"{RUNS_PREFIX}{number}"])
            _delete_refs(store, _artifact_refs(store, number))
    gone = {number for number, _ in doomed_runs}
    for ref_name, expires in _expired_artifacts(store, moment):
        name = ref_name[len(ARTIFACTS_PREFIX) :]
        run_part = name.split("/", 1)[0]
        if run_part.isdigit() and int(run_part) in gone:
            continue
        lines.append(f"artifact {name} (expired {expires})")
        if not dry_run:
            _delete_refs(store, [ref_name])
    claims = _stale_claims(store)
    if claims:
        lines.append(f"{len(claims)} run number claims up to {max(claims)}")
        if not dry_run:
            for number in claims:
                _unlink(store.state_dir / "numbers" / str(number))
    if not dry_run:
        _drop_finished_state(store)
    return lines


def _expired_runs(
    store: Store, policy: Policy, moment: datetime
) -> list[tuple[int, str]]:
    numbers = store.run_numbers()  # newest first
    doomed: list[tuple[int, str]] = []
    for position, number in enumerate(numbers):
        run = store.read_run(number)
        if run is None or run.status not in FINISHED_STATUSES:
            continue
        if policy.keep_runs is not None and position >= policy.keep_runs:
            doomed.append((number, f"beyond the newest {policy.keep_runs}"))
            continue
        if policy.retention_days is None:
            continue
        finished = parse_time(run.finished) or parse_time(run.created)
        limit = timedelta(days=policy.retention_days)
        if finished is not None and moment - finished > limit:
            doomed.append((number, f"finished {run.finished or run.created}"))
    return sorted(doomed)


def _expired_artifacts(store: Store, moment: datetime) -> list[tuple[str, str]]:
    expired = []
    for ref_name in sorted(store.iter_artifact_refs()):
        try:
            tag = store.repo.references[ref_name].peel(pygit2.Tag)
            body = tag.message.split("\n\n", 1)[1]
            expires = json.loads(body).get("expires")
        except (KeyError, IndexError, ValueError, pygit2.GitError):
            continue
        when = parse_time(expires)
        if when is not None and when <= moment:
            expired.append((ref_name, str(expires)))
    return expired


def _artifact_refs(store: Store, number: int) -> list[str]:
    prefix = f"{ARTIFACTS_PREFIX}{number}/"
    return [name for name in store.iter_artifact_refs() if name.startswith(prefix)]


def _delete_refs(store: Store, names: list[str]) -> None:
    for name in names:
        reference = store.repo.references.get(name)
        if reference is not None:
            reference.delete()


def _stale_claims(store: Store) -> list[int]:
    folder = store.state_dir / "numbers"
    try:
        claims = sorted(int(name) for name in os.listdir(folder) if name.isdigit())
    except FileNotFoundError:
        return []
    if not claims:
        return []
    highest = max(claims[-1], max(store.run_numbers(), default=0))
    try:
        counter = int((store.state_dir / "next-run").read_text().strip())
    except (FileNotFoundError, ValueError):
        counter = None
    if counter is None or counter <= highest:
        # Without a counter above every claim, the claims are what keeps
        # numbers unique; keep them all.
        return []
    return [number for number in claims if number < highest - CLAIM_MARGIN]


def _drop_finished_state(store: Store) -> None:
    for folder_name in ("cancel", "groups"):
        folder = store.state_dir / folder_name
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            if not name.isdigit():
                continue
            run = store.read_run(int(name))
            if run is None or run.status in FINISHED_STATUSES:
                if (store.state_dir / "queue" / name).exists():
                    continue
                _unlink(folder / name)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def prune_objects(store: Store) -> str:
    """Run ``git gc --prune=now`` while holding the worker lock; return a summary.

    ``--prune=now`` deletes every unreachable object at once, including the
    ones a worker has just written for a record whose ref it has not moved
    yet; run during a run, it leaves refs pointing at missing objects. The
    worker lock keeps workers out meanwhile: one started by a hook exits and
    leaves its runs queued, and this function starts a worker afterwards.
    """
    from lightci import queue
    from lightci.process import git
    from lightci.worker import spawn_worker, worker_lock

    with worker_lock(store.state_dir, wait=True):
        git(store.git_dir, "gc", "--quiet", "--prune=now")
    if queue.read_entries(store.state_dir):
        spawn_worker(store.git_dir)
    return "ran git gc --prune=now while no worker was running"
