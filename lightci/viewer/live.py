"""Server-sent events for a run in progress: status changes and new log lines.

The stream polls the store (about twice a second), because the worker is
another process and the store is files. Each ``status`` event carries the
run's and its jobs' statuses. Each ``log`` event carries a job's new
complete lines, already rendered to HTML, and the byte offset reached. The
stream ends with an ``end`` event once the run is finished, or with
``reconnect`` after a while so that no stream holds a server thread for
hours; the page's script opens a new one from the offsets it has.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lightci import queue
from lightci.records import FINISHED_STATUSES, RunRecord, seconds_between
from lightci.store import Store
from lightci.viewer.ansi import AnsiRenderer
from lightci.viewer.formatting import duration

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0

# A log event carries at most this many bytes of log, so one burst of output
# does not become one huge event; the rest follows on the next poll.
MAX_CHUNK_BYTES = 256 * 1024


def run_or_queued(store: Store, number: int) -> RunRecord | None:
    """Return a run's record, or a queued placeholder before the worker writes one."""
    run = store.read_run(number, with_jobs=True)
    if run is not None:
        return run
    entry = queue.read_entry(store.state_dir, number)
    if entry is None:
        return None
    return RunRecord(number=number, commit=entry.new, ref=entry.ref, event=entry.event)


def status_payload(run: RunRecord) -> dict[str, Any]:
    """Return what the page's script needs to update statuses and durations."""
    return {
        "run": {
            "status": run.status,
            "duration": duration(run.duration),
            "finished": run.is_finished,
            "message": run.message if run.status == "error" else None,
        },
        "jobs": [
            {
                "slug": job.slug,
                "status": job.status,
                "duration": duration(seconds_between(job.started, job.finished)),
                "reason": job.reason,
                "steps": [
                    {
                        "status": step.status,
                        "exit_code": step.exit_code,
                        "duration": duration(step.duration),
                    }
                    for step in job.steps
                ],
            }
            for job in run.jobs
        ],
    }


def format_event(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class _WatchedLog:
    slug: str
    offset: int
    renderer: AnsiRenderer
    done: bool = False


def _read_from(store: Store, number: int, slug: str, offset: int) -> bytes:
    """Return a job's log bytes from ``offset``, at most MAX_CHUNK_BYTES."""
    live = store.live_log_path(number, slug)
    try:
        with live.open("rb") as handle:
            handle.seek(offset)
            return handle.read(MAX_CHUNK_BYTES)
    except FileNotFoundError:
        pass
    data = store.read_log(number, slug) or b""
    return data[offset : offset + MAX_CHUNK_BYTES]


def _prime(store: Store, number: int, watched: _WatchedLog) -> None:
    """Bring a renderer to the SGR state at the offset the page has reached."""
    if watched.offset <= 0:
        return
    data = (store.read_log(number, watched.slug) or b"")[: watched.offset]
    watched.renderer.render(data)


def run_events(
    store: Store,
    number: int,
    offsets: dict[str, int],
    *,
    stopping: threading.Event,
    artifacts: Callable[[], list[dict[str, Any]]],
    poll_seconds: float = POLL_SECONDS,
    stream_seconds: float = STREAM_SECONDS,
) -> Iterator[bytes]:
    """Yield server-sent events for run ``number`` until it is finished.

    ``offsets`` maps the slugs of the logs the page shows to the number of
    bytes it has shown; ``artifacts`` lists the run's artifacts for the last
    status event, since they are recorded when the run ends.
    """
    watched = {
        slug: _WatchedLog(slug, max(0, offset), AnsiRenderer())
        for slug, offset in offsets.items()
    }
    for item in watched.values():
        _prime(store, number, item)
    yield b"retry: 3000\n\n"
    started = time.monotonic()
    last_sent = started
    last_status: dict[str, Any] | None = None
    while True:
        run = run_or_queued(store, number)
        if run is None:
            yield format_event("end", {"reason": "run not found"})
            return
        finished = run.is_finished
        job_finished = {job.slug: job.status in FINISHED_STATUSES for job in run.jobs}
        for item in watched.values():
            if item.done:
                continue
            final = finished or job_finished.get(item.slug, False)
            for event in _log_events(store, number, item, final=final):
                last_sent = time.monotonic()
                yield event

        payload = status_payload(run)
        if finished:
            payload["artifacts"] = artifacts()
        if payload != last_status:
            last_status = payload
            last_sent = time.monotonic()
            yield format_event("status", payload)
        if finished:
            yield format_event("end", {"status": run.status})
            return

        now = time.monotonic()
        if now - started > stream_seconds:
            yield format_event("reconnect", {})
            return
        if now - last_sent > KEEPALIVE_SECONDS:
            last_sent = now
            yield b": keepalive\n\n"
        if stopping.wait(poll_seconds):
            return


def _log_events(
    store: Store, number: int, item: _WatchedLog, *, final: bool
) -> Iterator[bytes]:
    """Yield log events for new output; mark the log done once its job is finished."""
    while True:
        data = _read_from(store, number, item.slug, item.offset)
        more = len(data) == MAX_CHUNK_BYTES
        # A full chunk without a newline is one very long line: show it now
        # rather than wait for a newline that may be far away.
        whole = (final and not more) or (more and b"\n" not in data)
        html, used = item.renderer.render(data, final=whole)
        if used:
            item.offset += used
            yield format_event(
                "log", {"job": item.slug, "offset": item.offset, "html": html}
            )
        if not more or not used:
            break
    if final and not more:
        item.done = True
