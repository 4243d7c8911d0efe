"""``lightci logs RUN [JOB] [--follow]``: job logs, live while the run goes on."""

from __future__ import annotations

import time
from collections.abc import Callable

from lightci.errors import LightciError
from lightci.records import JobRecord, RunRecord
from lightci.store import Store

_FOLLOW_POLL_SECONDS = 0.2


def pick_jobs(run: RunRecord, job: str | None) -> list[JobRecord]:
    if job is None:
        return run.jobs
    for record in run.jobs:
        if job in (record.name, record.slug):
            return [record]
    names = ", ".join(record.name for record in run.jobs) or "none"
    raise LightciError(f"run {run.number} has no job {job!r}; its jobs: {names}")


def _wait_for_record(store: Store, number: int) -> None:
    """Wait while a run is queued but its first record is not written yet."""
    from lightci import queue

    while store.read_run(number) is None:
        if queue.read_entry(store.state_dir, number) is None:
            return
        time.sleep(_FOLLOW_POLL_SECONDS)


def print_logs(
    store: Store,
    number: int,
    job: str | None,
    *,
    write: Callable[[bytes], None],
    follow: bool,
    headers: bool,
) -> None:
    """Write the logs of one run; with ``follow``, keep writing until it ends."""
    if follow:
        _wait_for_record(store, number)
    run = store.require_run(number)
    if not run.jobs and run.is_finished:
        # A run that ended before any job (an invalid pipeline, say) has no
        # log; its message is what there is to read.
        write(f"run {number} {run.status}: {run.message or 'no jobs ran'}\n".encode())
        return
    if not follow:
        for record in pick_jobs(run, job):
            if headers:
                write(f"==> {record.name} ({record.status}) <==\n".encode())
            write(store.read_log(number, record.slug) or b"")
        return
    offsets: dict[str, int] = {}
    while True:
        run = store.require_run(number)
        for record in pick_jobs(run, job):
            data = store.read_log(number, record.slug) or b""
            seen = offsets.get(record.slug)
            if seen is None:
                if not data and record.status in ("queued",):
                    continue
                if headers:
                    write(f"==> {record.name} <==\n".encode())
                seen = 0
            if len(data) > seen:
                write(data[seen:])
            offsets[record.slug] = max(seen, len(data))
        if run.is_finished:
            return
        time.sleep(_FOLLOW_POLL_SECONDS)
