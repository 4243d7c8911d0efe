"""Runs one queued run end to end: read the pipeline, plan, execute, record."""

from __future__ import annotations

import logging
import os
import shutil
import sys
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


def record_queued(
    store: Store, entry: QueueEntry, *, origin: str | None = None
) -> RunRecord:
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
    from lightci.concurrency import (
        claim_groups,
        job_groups,
        run_groups,
        wait_for_groups,
    )
    from lightci.engine import RunEngine
    from lightci.executor import LocalExecutor
    from lightci.pipeline import load_pipeline
    from lightci.plan import RunContext, plan_jobs
    from lightci.secrets import masking_filter

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
    try:
        settings = load_settings(store.repo)
    except LightciError as exc:
        fail_run(store, run, f"invalid lightci setting: {exc}")
        return run
    try:
        found = store.read_pipeline(run.commit)
    except PipelineError as exc:
        fail_run(store, run, exc.format())
        return run
    except (KeyError, ValueError, pygit2.GitError) as exc:
        fail_run(store, run, f"commit {run.commit} cannot be read: {exc}")
        return run
    if found is None:
        fail_run(
            store,
            run,
            f"commit {run.commit[:12]} has no .lightci.yml; "
            "add one with `lightci init`",
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
        fail_run(
            store, run, f"{filename}: no job matches this {run.event} of {run.ref}"
        )
        return run
    try:
        secrets = _load_secrets(store)
    except LightciError as exc:
        fail_run(store, run, str(exc))
        return run
    groups = job_groups(pipeline, plans, context)
    cancel = threading.Event()
    watcher = _CancelWatcher(flag, cancel)
    watcher.start()
    try:
        claimed = run_groups(pipeline, plans, context)
        claim_groups(store, run.number, claimed)
        wait_for_groups(store, run.number, claimed, cancel)
        engine = RunEngine(
            store,
            run,
            context,
            plans,
            executor=executor or LocalExecutor(kill_grace=settings.kill_grace),
            max_parallel=settings.max_parallel,
            max_log_bytes=settings.max_log_size,
            default_job_timeout=settings.job_timeout,
            echo=echo,
            cancel=cancel,
            pipeline_timeout=pipeline.timeout,
            secrets=secrets,
            log_filter=masking_filter(secrets.values()) if secrets else None,
            passed_before=_passed_before(store, entry),
            job_groups={name: group.key for name, group in groups.items()},
            cancel_reason=lambda: watcher.reason,
        )
        engine.execute()
    finally:
        watcher.stop()
        shutil.rmtree(store.state_dir / "live" / str(run.number), ignore_errors=True)
    return run


def _passed_before(store: Store, entry: QueueEntry) -> dict[str, int]:
    """Return the jobs a ``retry --failed`` leaves out, with the run each passed in."""
    from lightci.commands.retry import parse_retry_base, passed_in

    parsed = parse_retry_base(entry.base)
    if parsed is None or not parsed[1]:
        return {}
    base = store.read_run(parsed[0], with_jobs=True)
    if base is None:
        return {}
    passed = {}
    for job in base.jobs:
        number = passed_in(job, base.number)
        if number is not None:
            passed[job.name] = number
    return passed


def run_in_foreground(
    store: Store,
    entry: QueueEntry,
    *,
    origin: str | None,
    echo: BinaryIO | None,
) -> RunRecord:
    """Run a numbered entry now in this process; Ctrl-C cancels the run."""
    from lightci.worker import _cleanup_run

    active = store.state_dir / "active" / str(entry.number)
    active.parent.mkdir(parents=True, exist_ok=True)
    active.write_text(f"{os.getpid()}\n")
    record_queued(store, entry, origin=origin)
    result: list[RunRecord] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(execute(store, entry, echo=echo, origin=origin))
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        flag = cancel_flag(store, entry.number)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
        sys.stderr.write(f"\nlightci: cancelling run {entry.number}...\n")
        thread.join()
    finally:
        _cleanup_run(store, entry.number)
    if failure:
        raise failure[0]
    return result[0]


def _load_secrets(store: Store) -> dict[str, str]:
    from lightci.secrets import load_secrets

    return load_secrets(store.git_dir)


class _CancelWatcher(threading.Thread):
    """Sets the cancel event once ``lightci cancel`` drops the run's flag file."""

    def __init__(self, flag: Path, cancel: threading.Event) -> None:
        super().__init__(daemon=True)
        self.flag = flag
        self.cancel = cancel
        self.reason: str | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(_CANCEL_POLL_SECONDS):
            if self.flag.exists():
                # The flag's text names who cancelled, e.g. "replaced by run 12".
                try:
                    self.reason = self.flag.read_text().strip() or None
                except OSError:
                    self.reason = None
                self.cancel.set()
                return

    def stop(self) -> None:
        self._stopped.set()


__all__ = ["LightciError", "cancel_flag", "execute", "fail_run", "record_queued"]
