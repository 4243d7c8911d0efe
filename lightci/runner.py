"""Runs one queued run end to end: read the pipeline, plan, execute, record."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import BinaryIO

import pygit2

from lightci.changes import changed_paths
from lightci.errors import LightciError, PipelineError
from lightci.executor import Executor
from lightci.queue import ZERO_ID, QueueEntry
from lightci.records import CANCELLED, ERROR, QUEUED, RunRecord, utc_now
from lightci.settings import load_settings
from lightci.store import Store

logger = logging.getLogger("lightci.runner")

_CANCEL_POLL_SECONDS = 0.2


def cancel_flag(store: Store, number: int) -> Path:
    return store.state_dir / "cancel" / str(number)


def record_queued(store: Store, entry: QueueEntry, *, origin: str | None = None) -> RunRecord:
    """Write the run's first record, status queued, unless it exists already."""
    existing = store.read_run(entry.number)
    if existing is not None:
        return existing
    commit = _peel_commit(store.repo, entry.new)
    run = RunRecord(
        number=entry.number,
        commit=commit or entry.new,
        ref=entry.ref,
        event=entry.event,
        origin=origin,
    )
    store.write_run(run, message=f"run {run.number}: queued\n")
    store.set_note_line(run)
    return run


def _peel_commit(repo: pygit2.Repository, rev: str) -> str | None:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def fail_run(store: Store, run: RunRecord, message: str) -> None:
    """Finish a run as ``error`` with a message saying what went wrong."""
    run.status = ERROR
    run.message = message
    run.started = run.started or utc_now()
    run.finished = utc_now()
    store.write_run(run, message=f"run {run.number}: error\n", jobs=[])
    store.set_note_line(run)
    from lightci.builds import record_finished

    record_finished(store, run)


def execute(
    store: Store,
    entry: QueueEntry,
    *,
    echo: BinaryIO | None = None,
    executor: Executor | None = None,
    origin: str | None = None,
) -> RunRecord:
    """Run a queued entry to the end and return its final record.

    Problems with the pipeline file or the commit finish the run as
    ``error`` with the message; they are not raised.
    """
    from lightci.engine import RunEngine
    from lightci.pipeline import load_pipeline
    from lightci.plan import RunContext, pipeline_matches, plan_jobs

    run = record_queued(store, entry, origin=origin)
    if run.is_finished:
        return run
    flag = cancel_flag(store, run.number)
    if flag.exists() and run.status == QUEUED:
        run.status = CANCELLED
        run.finished = utc_now()
        store.write_run(run, message=f"run {run.number}: cancelled\n", jobs=[])
        store.set_note_line(run)
        return run
    settings = load_settings(store.repo)
    try:
        found = store.read_pipeline(run.commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        fail_run(store, run, f"commit {run.commit} cannot be read: {exc}")
        return run
    if found is None:
        fail_run(
            store,
            run,
            f"commit {run.commit[:12]} has no .lightci.yml; add one with `lightci init`",
        )
        return run
    filename, content = found
    run.pipeline = filename
    try:
        pipeline = load_pipeline(content, filename)
        paths = changed_paths(store.repo, entry.old or ZERO_ID, run.commit, run.ref)
        context = RunContext(
            number=run.number,
            commit=run.commit,
            ref=run.ref,
            event=run.event,
            changed_paths=paths,
        )
        plans = plan_jobs(pipeline, context)
    except PipelineError as exc:
        fail_run(store, run, exc.format())
        return run
    if not plans:
        fail_run(store, run, f"{filename}: no job matches this {run.event} of {run.ref}")
        return run
    cancel = threading.Event()
    watcher = _CancelWatcher(flag, cancel)
    watcher.start()
    try:
        engine = RunEngine(
            store,
            run,
            context,
            plans,
            executor=executor,
            max_parallel=settings.max_parallel,
            max_log_bytes=settings.max_log_size,
            echo=echo,
            cancel=cancel,
            pipeline_timeout=pipeline.timeout,
            secrets=_load_secrets(store),
        )
        engine.execute()
    finally:
        watcher.stop()
        shutil.rmtree(store.state_dir / "live" / str(run.number), ignore_errors=True)
    return run


def _load_secrets(store: Store) -> dict[str, str]:
    try:
        from lightci.secrets import load_secrets
    except ImportError:
        return {}
    return load_secrets(store.git_dir)


class _CancelWatcher(threading.Thread):
    """Sets the cancel event once ``lightci cancel`` drops the run's flag file."""

    def __init__(self, flag: Path, cancel: threading.Event) -> None:
        super().__init__(daemon=True)
        self.flag = flag
        self.cancel = cancel
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(_CANCEL_POLL_SECONDS):
            if self.flag.exists():
                self.cancel.set()
                return

    def stop(self) -> None:
        self._stopped.set()


__all__ = ["LightciError", "cancel_flag", "execute", "fail_run", "record_queued"]
