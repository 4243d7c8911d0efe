"""The viewer's pages as data: each builder returns what the HTML template
shows and the JSON its ``/api/`` twin returns, from the same reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from lightci import refs
from lightci.records import STATUSES, JobRecord, RunRecord, short_ref
from lightci.store import Store
from lightci.viewer import queries
from lightci.viewer.ansi import strip_ansi
from lightci.viewer.formatting import subject
from lightci.viewer.live import run_or_queued
from lightci.viewer.repos import Registry, Repository

# The log page renders at most this many bytes, from the end of the log; the
# raw log link has all of it.
MAX_RENDERED_LOG = 2 * 1024 * 1024


class NotFound(Exception):
    """A request for something that does not exist; the message names it."""


class BadRequest(Exception):
    """A query parameter with an invalid value; the message names it."""


@dataclass
class Page:
    template: str
    context: dict[str, Any]
    data: dict[str, Any]
    title: str = "lightci"


@dataclass
class Urls:
    """Builds the viewer's URLs, under the prefix it is mounted at."""

    base: str = ""

    def home(self) -> str:
        return f"{self.base}/"

    def api(self, url: str) -> str:
        return f"{self.base}/api{url[len(self.base) :]}"

    def repo(self, name: str) -> str:
        return f"{self.base}/{name}"

    def runs(self, name: str, **query: str | int | None) -> str:
        values = {key: value for key, value in query.items() if value}
        text = urlencode(values, safe="/")
        return f"{self.base}/{name}/runs" + (f"?{text}" if text else "")

    def run(self, name: str, number: int) -> str:
        return f"{self.base}/{name}/runs/{number}"

    def job(self, name: str, number: int, slug: str) -> str:
        return f"{self.base}/{name}/runs/{number}/jobs/{slug}"

    def raw_log(self, name: str, number: int, slug: str) -> str:
        return f"{self.job(name, number, slug)}/raw"

    def events(self, name: str, number: int) -> str:
        return f"{self.run(name, number)}/events"

    def artifact(self, name: str, number: int, artifact: str) -> str:
        return f"{self.run(name, number)}/artifacts/{quote(artifact, safe='/')}"

    def commit(self, name: str, commit: str) -> str:
        return f"{self.base}/{name}/commits/{commit}"

    def badge(self, name: str, branch: str) -> str:
        return f"{self.base}/{name}/badge/{quote(branch, safe='/')}.svg"

    def clone(self, name: str) -> str:
        return f"{self.base}/{name}.git"

    def static(self, path: str) -> str:
        return f"{self.base}/static/{path}"


def run_summary_json(run: RunRecord, repo: str, urls: Urls) -> dict[str, Any]:
    data = run.summary_dict()
    del data["format"]
    data["duration"] = run.duration
    data["url"] = urls.run(repo, run.number)
    return data


def _job_json(job: JobRecord, run: RunRecord, repo: str, urls: Urls) -> dict[str, Any]:
    data = job.to_dict()
    data["url"] = urls.job(repo, run.number, job.slug)
    data["log_url"] = urls.raw_log(repo, run.number, job.slug)
    return data


@dataclass
class RunRow:
    """A run as a line of a list, with its commit's subject."""

    run: RunRecord
    subject: str = ""


def _rows(store: Store, runs: list[RunRecord]) -> list[RunRow]:
    rows = []
    for run in runs:
        info = queries.commit_info(store, run.commit)
        rows.append(RunRow(run, subject(info.message) if info else ""))
    return rows


@dataclass
class RepositorySummary:
    repository: Repository
    latest: RunRecord | None
    run_count: int
    extra: dict[str, Any] = field(default_factory=dict)


def index_page(registry: Registry, urls: Urls) -> Page:
    summaries = []
    for repository in registry.repositories():
        store = registry.store(repository)
        numbers = refs.run_numbers(store.git_dir)
        latest = queries.run_summary(store, numbers[0]) if numbers else None
        summaries.append(RepositorySummary(repository, latest, len(numbers)))
    data = {
        "repositories": [
            {
                "name": item.repository.name,
                "url": urls.repo(item.repository.name),
                "clone_url": urls.clone(item.repository.name),
                "runs": item.run_count,
                "latest_run": (
                    run_summary_json(item.latest, item.repository.name, urls)
                    if item.latest
                    else None
                ),
            }
            for item in summaries
        ]
    }
    return Page("index", {"summaries": summaries}, data, "Repositories")


def _ref_json(item: queries.RefStatus, repo: str, urls: Urls) -> dict[str, Any]:
    return {
        "name": item.name,
        "ref": item.ref,
        "commit": item.commit,
        "subject": item.subject,
        "status": item.run.status if item.run else None,
        "run": item.run.number if item.run else None,
        "run_url": urls.run(repo, item.run.number) if item.run else None,
        "run_is_for_tip": item.run_is_for_tip if item.run else None,
        "badge_url": urls.badge(repo, item.name) if item.kind == "branch" else None,
    }


def repository_page(registry: Registry, repository: Repository, urls: Urls) -> Page:
    store = registry.store(repository)
    refs = queries.repository_refs(store)
    recent = queries.history_page(store, 1).runs[:10]
    name = repository.name
    data = {
        "name": name,
        "clone_url": urls.clone(name),
        "default_branch": refs.default_branch,
        "branches": [_ref_json(item, name, urls) for item in refs.branches],
        "tags": [_ref_json(item, name, urls) for item in refs.tags],
        "recent_runs": [run_summary_json(run, name, urls) for run in recent],
    }
    context = {"repository": repository, "refs": refs, "recent": _rows(store, recent)}
    return Page("repo", context, data, name)


def parse_page_number(text: str | None) -> int:
    if text in (None, ""):
        return 1
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"page={text!r} is not a page number; pages start at 1")
    return int(text)


def history_page(
    registry: Registry,
    repository: Repository,
    urls: Urls,
    *,
    page: str | None,
    branch: str | None,
    status: str | None,
    before: str | None = None,
) -> Page:
    number = parse_page_number(page)
    if before not in (None, "") and (not before.isdigit() or int(before) < 1):
        raise BadRequest(f"before={before!r} is not a run number")
    cursor = int(before) if before else None
    if status and status not in STATUSES:
        raise BadRequest(
            f"status={status!r} is not a status; use one of {', '.join(STATUSES)}"
        )
    store = registry.store(repository)
    result = queries.history_page(
        store, number, branch=branch or None, status=status or None, before=cursor
    )
    name = repository.name
    filters = {"branch": branch or None, "status": status or None}
    query = {**filters, "before": cursor}
    next_url = urls.runs(name, page=number + 1, **query) if result.has_next else None
    previous_url = urls.runs(name, page=number - 1, **query) if number > 1 else None
    # A script that walks the history follows `after_cursor`: pages by
    # run number stay put while new runs arrive, pages by number shift.
    after_cursor = None
    if result.has_next and result.runs:
        after_cursor = urls.runs(name, before=result.runs[-1].number, **filters)
    data = {
        "name": name,
        "page": result.page,
        "per_page": queries.PAGE_SIZE,
        "total": result.total,
        "filters": filters,
        # The JSON's page links lead to the JSON pages.
        "next": urls.api(next_url) if next_url else None,
        "previous": urls.api(previous_url) if previous_url else None,
        "next_before": urls.api(after_cursor) if after_cursor else None,
        "runs": [run_summary_json(run, name, urls) for run in result.runs],
    }
    context = {
        "repository": repository,
        "result": result,
        "rows": _rows(store, result.runs),
        "filters": filters,
        "statuses": STATUSES,
        "next_url": next_url,
        "previous_url": previous_url,
    }
    return Page("runs", context, data, f"Runs · {name}")


def require_run(registry: Registry, repository: Repository, number: int) -> RunRecord:
    run = run_or_queued(registry.store(repository), number)
    if run is None:
        raise NotFound(f"run {number} not found in {repository.name}")
    return run


def job_levels(jobs: list[JobRecord]) -> list[list[JobRecord]]:
    """Group jobs by depth in the ``needs`` graph: jobs needing nothing come first."""
    by_name = {job.name: job for job in jobs}
    depth: dict[str, int] = {}

    def level(job: JobRecord, seen: frozenset[str]) -> int:
        if job.name in depth:
            return depth[job.name]
        parents = [by_name[n] for n in job.needs if n in by_name and n not in seen]
        value = 1 + max((level(p, seen | {job.name}) for p in parents), default=-1)
        depth[job.name] = value
        return value

    levels: list[list[JobRecord]] = []
    for job in jobs:
        index = level(job, frozenset())
        while len(levels) <= index:
            levels.append([])
        levels[index].append(job)
    return [group for group in levels if group]


def run_page(
    registry: Registry, repository: Repository, urls: Urls, number: int
) -> Page:
    store = registry.store(repository)
    run = require_run(registry, repository, number)
    artifacts = refs.list_artifacts(store.repo, store.git_dir, number)
    info = queries.commit_info(store, run.commit)
    name = repository.name
    data = run.to_dict()
    data["url"] = urls.run(name, number)
    data["commit_subject"] = subject(info.message) if info else None
    data["jobs"] = [_job_json(job, run, name, urls) for job in run.jobs]
    data["artifacts"] = [artifact_json(item, name, urls) for item in artifacts]
    logs = {}
    for job in run.jobs:
        if job_log_shown(job):
            logs[job.slug] = log_tail(store.read_log(number, job.slug) or b"")
    context = {
        "repository": repository,
        "run": run,
        "commit": info,
        "artifacts": artifacts,
        "levels": job_levels(run.jobs),
        "logs": logs,
        "branch": short_ref(run.ref),
    }
    return Page("run", context, data, f"Run {number} · {name}")


def job_log_shown(job: JobRecord) -> bool:
    """Return whether the run page shows a job's log: while it runs, or if it failed."""
    return job.status in ("queued", "running", "failed", "timed-out", "error")


def artifact_json(item: Any, repo: str, urls: Urls) -> dict[str, Any]:
    return {
        "name": item.name,
        "job": item.job,
        "path": item.path,
        "kind": item.kind,
        "size": item.size,
        "sha256": item.sha256,
        "expires": item.expires,
        "url": urls.artifact(repo, item.run, item.name),
    }


def find_job(run: RunRecord, slug: str) -> JobRecord:
    for job in run.jobs:
        if job.slug == slug:
            return job
    raise NotFound(f"job {slug!r} not found in run {run.number}")


def log_tail(log: bytes) -> tuple[bytes, int]:
    """Return the whole lines in a log's last MAX_RENDERED_LOG bytes.

    The second value is the number of bytes left out before them.
    """
    if len(log) <= MAX_RENDERED_LOG:
        return log, 0
    cut = log.find(b"\n", len(log) - MAX_RENDERED_LOG) + 1
    return log[cut:], cut


def job_page(
    registry: Registry, repository: Repository, urls: Urls, number: int, slug: str
) -> Page:
    store = registry.store(repository)
    run = require_run(registry, repository, number)
    job = find_job(run, slug)
    log = store.read_log(number, slug) or b""
    shown, skipped = log_tail(log)
    name = repository.name
    data = _job_json(job, run, name, urls)
    data["run"] = run_summary_json(run, name, urls)
    data["log"] = strip_ansi(log.decode("utf-8", "replace"))
    context = {
        "repository": repository,
        "run": run,
        "job": job,
        "log": shown,
        "log_skipped": skipped,
        "log_size": len(log),
        "branch": short_ref(run.ref),
    }
    return Page("job", context, data, f"{job.title} · run {number} · {name}")


def commit_page(
    registry: Registry, repository: Repository, urls: Urls, commit_text: str
) -> Page:
    store = registry.store(repository)
    commit = queries.resolve_commit(store, commit_text)
    if commit is None:
        raise NotFound(f"commit {commit_text!r} not found in {repository.name}")
    info = queries.commit_info(store, commit)
    note = store.read_note(commit)
    runs = [
        run
        for run in (
            queries.run_summary(store, n) for n in queries.note_run_numbers(note)
        )
        if run is not None
    ]
    runs.sort(key=lambda run: run.number, reverse=True)
    name = repository.name
    data = {
        "commit": commit,
        "message": info.message if info else None,
        "author": info.author if info else None,
        "note": note,
        "runs": [run_summary_json(run, name, urls) for run in runs],
    }
    context = {"repository": repository, "commit": info, "note": note, "runs": runs}
    return Page("commit", context, data, f"{commit[:10]} · {name}")
