"""``lightci cancel RUN``: stop a queued or running run."""

from __future__ import annotations

from lightci import queue
from lightci.errors import LightciError
from lightci.records import CANCELLED, FINISHED_STATUSES, utc_now
from lightci.store import Store


def cancel_run(store: Store, number: int, *, reason: str | None = None) -> str:
    """Cancel run ``number`` and return the line to print.

    The cancel flag is written first in every case. A worker that picks the
    run up in the meantime checks it before it starts a job, and a running
    run's engine polls it every 0.2 seconds, then stops every process of the
    run and records it as cancelled. A run still in the queue is
    recorded as cancelled here and taken off the queue.
    """
    from lightci.runner import cancel_flag, record_queued

    run = store.read_run(number)
    entry = queue.read_entry(store.state_dir, number)
    if run is None and entry is None:
        store.require_run(number)
    if run is not None and run.status in FINISHED_STATUSES:
        raise LightciError(
            f"run {number} already finished ({run.status}); there is nothing "
            f"to cancel. `lightci retry {number}` runs it again"
        )
    flag = cancel_flag(store, number)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(f"{reason or 'cancelled with lightci cancel'}\n")

    active = (store.state_dir / "active" / str(number)).exists()
    if active:
        from lightci.worker import finish_orphaned_run, orphan_owner

        pid = orphan_owner(store, number)
        if pid is not None:
            # The flag would go unread, because the process running the run
            # died; finish the run here instead.
            finish_orphaned_run(
                store,
                number,
                f"cancelled after its worker (pid {pid}) had stopped",
                status=CANCELLED,
            )
            return f"run {number}: cancelled; its worker had stopped"
    if active or entry is None:
        return f"run {number}: cancelling; its jobs are being stopped"

    if run is None:
        run = record_queued(store, entry)
    run.status = CANCELLED
    run.finished = utc_now()
    if reason:
        run.message = f"cancelled before it started: {reason}"
    store.write_run(run, message=f"run {number}: cancelled\n", jobs=[])
    store.set_note_line(run)
    queue.remove(store.state_dir, number)
    return f"run {number}: cancelled before it started"
