"""``lightci retry RUN [--failed]``: queue the commit and ref of a run again."""

from __future__ import annotations

from lightci.errors import LightciError
from lightci.queue import ZERO_ID, QueueEntry, enqueue
from lightci.records import FINISHED_STATUSES, PASSED, SKIPPED, JobRecord
from lightci.store import Store

# QueueEntry.base names the retried run; this suffix requests its failed jobs only.
_FAILED_ONLY = ":failed"


_PASSED_IN = "passed in run "


def passed_in(job: JobRecord, run: int) -> int | None:
    """Return the run a job of run ``run`` passed in, or None if it did not pass.

    A job that ``retry --failed`` left out is recorded as skipped, with the
    run it passed in as its reason.
    """
    if job.status == PASSED:
        return run
    reason = job.reason or ""
    if job.status == SKIPPED and reason.startswith(_PASSED_IN):
        number = reason.removeprefix(_PASSED_IN)
        if number.isdigit():
            return int(number)
    return None


def retry_base(number: int, failed_only: bool) -> str:
    return f"{number}{_FAILED_ONLY if failed_only else ''}"


def parse_retry_base(base: str | None) -> tuple[int, bool] | None:
    """Return (retried run, failed jobs only) from a queue entry's ``base``."""
    if not base:
        return None
    failed_only = base.endswith(_FAILED_ONLY)
    number = base.removesuffix(_FAILED_ONLY)
    if not number.isdigit():
        return None
    return int(number), failed_only


def retry_run(store: Store, number: int, *, failed_only: bool = False) -> int:
    """Queue run ``number`` again, start the worker and return the new number."""
    from lightci.concurrency import claim_for_entry
    from lightci.runner import record_queued
    from lightci.worker import spawn_worker

    old = store.require_run(number, with_jobs=True)
    if old.status not in FINISHED_STATUSES:
        raise LightciError(
            f"run {number} is still {old.status}; wait for it to finish or stop "
            f"it with `lightci cancel {number}`"
        )
    if failed_only:
        if not old.jobs:
            raise LightciError(
                f"run {number} has no jobs ({old.status}); retry all of it with "
                f"`lightci retry {number}`"
            )
        if all(passed_in(job, number) is not None for job in old.jobs):
            raise LightciError(
                f"every job of run {number} passed; nothing to retry with --failed"
            )
    new = store.allocate_number()
    entry = QueueEntry(
        number=new,
        ref=old.ref,
        old=ZERO_ID,
        new=old.commit,
        event="retry",
        base=retry_base(number, failed_only),
    )
    enqueue(store.state_dir, entry)
    record_queued(store, entry)
    claim_for_entry(store, entry)
    spawn_worker(store.git_dir)
    return new
