"""Read what the viewer's pages show from a Store, reading no more than needed.

A history page reads the run refs and the ``run.json`` of the runs it shows.
Filters read runs newest first until the page is full. Summaries are cached
by the id of the run's commit, and that id changes with every state change,
so a cached summary is never stale.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from lightci import refs
from lightci.records import RecordError, RunRecord, parse_summary, short_ref
from lightci.store import RUNS_PREFIX, Store

PAGE_SIZE = 50

# How many runs, newest first, are searched for a branch whose tip commit has
# no note; older runs are not read, so such a branch may show no status.
REF_SCAN_LIMIT = 500

_CACHE_LIMIT = 100_000
_NOTE_LINE = re.compile(r"^run (\d+) (?!@)")


class SummaryCache:
    """run.json summaries by (repository, run commit id); safe across threads."""

    def __init__(self, limit: int = _CACHE_LIMIT) -> None:
        self.limit = limit
        self._items: dict[tuple[Path, str], RunRecord] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Path, str]) -> RunRecord | None:
        return self._items.get(key)

    def put(self, key: tuple[Path, str], run: RunRecord) -> None:
        with self._lock:
            if len(self._items) >= self.limit:
                # Dropping everything is crude but keeps memory bounded, and
                # the cache refills from a few page views.
                self._items.clear()
            self._items[key] = run


SUMMARIES = SummaryCache()


def run_summary(store: Store, number: int) -> RunRecord | None:
    """Return a run's summary (jobs without steps), or None if it is unknown.

    The returned record may be shared with other threads: do not change it.
    """
    reference = store.repo.references.get(f"{RUNS_PREFIX}{number}")
    if reference is None:
        return None
    commit_id = str(reference.target)
    key = (store.git_dir, commit_id)
    run = SUMMARIES.get(key)
    if run is None:
        commit = store.repo[commit_id]
        if not isinstance(commit, pygit2.Commit):
            return None
        blob = commit.tree["run.json"]
        try:
            run = parse_summary(blob.data)
        except RecordError:
            # Listed pages skip a record this lightci cannot read, and the
            # run's own page shows why.
            return None
        SUMMARIES.put(key, run)
    return run


def ref_matches(run: RunRecord, branch: str) -> bool:
    """Return whether a run is for ``branch`` (a short name or a full ref)."""
    return run.ref == branch or short_ref(run.ref) == branch


@dataclass
class HistoryPage:
    runs: list[RunRecord]
    page: int
    has_next: bool
    total: int | None  # None when filtered, because counting reads every run


def history_page(
    store: Store,
    page: int,
    *,
    branch: str | None = None,
    status: str | None = None,
    before: int | None = None,
) -> HistoryPage:
    """Return one page of runs, newest first, optionally filtered.

    With ``before``, only runs numbered below it count, so a client can
    page through a history that grows while it reads.
    """
    numbers = refs.run_numbers(store.git_dir)
    if before is not None:
        numbers = [number for number in numbers if number < before]
    start = (page - 1) * PAGE_SIZE
    if not branch and not status:
        chosen = numbers[start : start + PAGE_SIZE]
        runs = [run for run in map(lambda n: run_summary(store, n), chosen) if run]
        return HistoryPage(runs, page, start + PAGE_SIZE < len(numbers), len(numbers))

    # NOTE: a filter that matches few runs reads every run.json once; later
    # requests hit the summary cache, so only the first one is slow.
    matched = 0
    runs = []
    for number in numbers:
        run = run_summary(store, number)
        if run is None:
            continue
        if branch and not ref_matches(run, branch):
            continue
        if status and run.status != status:
            continue
        matched += 1
        if matched <= start:
            continue
        if len(runs) == PAGE_SIZE:
            return HistoryPage(runs, page, True, None)
        runs.append(run)
    return HistoryPage(runs, page, False, None)


def note_run_numbers(note: str | None) -> list[int]:
    """Return the numbers of this repository's runs listed in a commit's note.

    Lines of runs made elsewhere (``run 4 @laptop ...``) are left out, since
    their numbers belong to another repository.
    """
    numbers = []
    for line in (note or "").splitlines():
        match = _NOTE_LINE.match(line.strip())
        if match:
            numbers.append(int(match.group(1)))
    return numbers


@dataclass
class RefStatus:
    name: str  # short name, e.g. ``main`` or ``v1.0``
    ref: str
    kind: str  # "branch" or "tag"
    commit: str
    subject: str
    time: int  # commit time, seconds since the epoch
    run: RunRecord | None = None
    run_is_for_tip: bool = True


@dataclass
class RepositoryRefs:
    branches: list[RefStatus] = field(default_factory=list)
    tags: list[RefStatus] = field(default_factory=list)
    default_branch: str | None = None


def latest_run_for_commit(store: Store, commit: str, ref: str) -> RunRecord | None:
    """Return the newest run of a commit listed in its note, preferring ``ref``."""
    runs = [
        run
        for run in (
            run_summary(store, n) for n in note_run_numbers(store.read_note(commit))
        )
        if run is not None
    ]
    same_ref = [run for run in runs if run.ref == ref]
    candidates = same_ref or runs
    return max(candidates, key=lambda run: run.number) if candidates else None


def repository_refs(store: Store) -> RepositoryRefs:
    """Return the branches and tags with the status of their latest run."""
    repo = store.repo
    result = RepositoryRefs()
    try:
        head = repo.references["HEAD"].target
        result.default_branch = short_ref(head) if isinstance(head, str) else None
    except KeyError:
        result.default_branch = None
    names = refs.ref_names(store.git_dir, "refs/heads/")
    names += refs.ref_names(store.git_dir, "refs/tags/")
    for name in names:
        if name.startswith("refs/heads/"):
            kind = "branch"
        elif name.startswith("refs/tags/"):
            kind = "tag"
        else:
            continue
        try:
            commit = repo.references[name].peel(pygit2.Commit)
        except (pygit2.InvalidSpecError, ValueError, KeyError):
            continue
        if not isinstance(commit, pygit2.Commit):
            continue
        status = RefStatus(
            name=short_ref(name),
            ref=name,
            kind=kind,
            commit=str(commit.id),
            subject=commit.message.strip().split("\n", 1)[0],
            time=commit.commit_time,
        )
        status.run = latest_run_for_commit(store, status.commit, name)
        (result.branches if kind == "branch" else result.tags).append(status)
    _fill_from_recent_runs(store, result.branches + result.tags)
    result.branches.sort(
        key=lambda item: (item.name != result.default_branch, -item.time, item.name)
    )
    result.tags.sort(key=lambda item: (-item.time, item.name))
    return result


def _fill_from_recent_runs(store: Store, items: list[RefStatus]) -> None:
    """Give refs whose tip has no note the newest recent run of the same ref."""
    missing = {item.ref: item for item in items if item.run is None}
    if not missing:
        return
    for number in refs.run_numbers(store.git_dir)[:REF_SCAN_LIMIT]:
        run = run_summary(store, number)
        if run is None or run.ref not in missing:
            continue
        item = missing.pop(run.ref)
        item.run = run
        item.run_is_for_tip = run.commit == item.commit
        if not missing:
            return


def ref_status(store: Store, ref: str) -> RefStatus | None:
    """Return one branch or tag with its latest run, or None if it does not exist."""
    try:
        commit = store.repo.references[ref].peel(pygit2.Commit)
    except (KeyError, pygit2.InvalidSpecError, ValueError):
        return None
    if not isinstance(commit, pygit2.Commit):
        return None
    status = RefStatus(
        name=short_ref(ref),
        ref=ref,
        kind="tag" if ref.startswith("refs/tags/") else "branch",
        commit=str(commit.id),
        subject=commit.message.strip().split("\n", 1)[0],
        time=commit.commit_time,
    )
    status.run = latest_run_for_commit(store, status.commit, ref)
    _fill_from_recent_runs(store, [status])
    return status


@dataclass
class CommitInfo:
    id: str
    message: str
    author: str
    time: int


def commit_info(store: Store, commit: str) -> CommitInfo | None:
    """Return a commit's message and author, or None if it is not in the repository."""
    try:
        found = store.repo.get(commit)
    except (ValueError, pygit2.GitError):
        return None
    if not isinstance(found, pygit2.Commit):
        return None
    return CommitInfo(
        id=str(found.id),
        message=found.message,
        author=found.author.name,
        time=found.commit_time,
    )


def resolve_commit(store: Store, text: str) -> str | None:
    """Return the full id of a commit named by a (possibly short) hex id."""
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", text):
        return None
    try:
        found = store.repo.revparse_single(text)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    commit = (
        found.peel(pygit2.Commit) if not isinstance(found, pygit2.Commit) else found
    )
    return str(commit.id) if isinstance(commit, pygit2.Commit) else None
