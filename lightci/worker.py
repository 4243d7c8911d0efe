"""The worker: drains a repository's run queue, one worker per repository.

The hook starts a worker after each push. A second worker that finds the
lock taken exits at once, because the first one picks up its entries. A
worker that released the lock looks at the queue once more before it
exits, so an entry queued in that moment is not stranded.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path

from lightci import queue
from lightci.errors import LightciError
from lightci.process import clean_environ
from lightci.records import ERROR, FINISHED_STATUSES, QUEUED, RUNNING, utc_now
from lightci.store import Store
from lightci.worktree import remove_worktree

logger = logging.getLogger("lightci.worker")

_RECORD_POLL_SECONDS = 0.3


def setup_logging(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(state_dir / "worker.log")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("lightci")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextmanager
def worker_lock(state_dir: Path, *, wait: bool = False) -> Iterator[bool]:
    """Hold the repository's worker lock; yield whether it was taken.

    Without ``wait``, a lock held by another process yields False at once.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "worker.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def work(git_dir: Path) -> int:
    """Drain the queue; return how many runs this worker ran."""
    store = Store.open(git_dir)
    count = 0
    active = store.state_dir / "active"
    if not queue.read_entries(store.state_dir) and not (
        active.is_dir() and any(active.iterdir())
    ):
        return count
    while True:
        with worker_lock(store.state_dir) as locked:
            if not locked:
                logger.info("worker lock is taken by another worker; exiting")
                return count
            logger.info("worker started for %s", store.git_dir)
            recover(store)
            count += drain(store)
        if not queue.read_entries(store.state_dir):
            logger.info("queue empty; worker stopping after %d runs", count)
            return count


def serve_queue(git_dir: Path, poll: float) -> None:
    """Run as a service: drain the queue, then look again every ``poll`` seconds.

    Hooks still start their own workers. Those exit at once while this one
    has the lock, so the two ways of running work side by side.
    """
    logger.info("worker service started for %s, polling every %ss", git_dir, poll)
    try:
        while True:
            work(git_dir)
            time.sleep(poll)
    except KeyboardInterrupt:
        logger.info("worker service stopped")


def drain(store: Store) -> int:
    """Run the queued runs, oldest first; return how many ran.

    ``lightci.maxRuns`` (default 1) runs go at once; each run's jobs then
    go up to ``lightci.maxParallel`` at once. Runs that share a concurrency
    group never overlap.
    """
    from lightci.settings import load_settings
    from lightci.sync import local_origin

    origin = local_origin(store.repo)
    try:
        max_runs = load_settings(store.repo).max_runs
    except LightciError as exc:
        logger.error("%s; running one run at a time", exc)
        max_runs = 1
    recorder = _QueueRecorder(store.git_dir, origin)
    recorder.start()
    try:
        return _drain(store, recorder, origin, max_runs)
    finally:
        recorder.stop()


def _drain(
    store: Store, recorder: _QueueRecorder, origin: str | None, max_runs: int
) -> int:
    from lightci.concurrency import read_groups

    count = 0
    running: dict[int, Future[None]] = {}
    busy: dict[int, set[str]] = {}
    with ThreadPoolExecutor(max_workers=max_runs) as pool:
        while True:
            with recorder.lock:
                entries = queue.read_entries(store.state_dir)
                recorder.record(store, entries)
            waiting = [entry for entry in entries if entry.number not in running]
            if not waiting and not running:
                return count
            taken = set().union(*busy.values()) if busy else set()
            for entry in waiting:
                if len(running) >= max_runs:
                    break
                keys = {group.key for group in read_groups(store, entry.number)}
                if keys & taken:
                    continue
                future = pool.submit(_run_entry, store.git_dir, entry, origin)
                running[entry.number] = future
                busy[entry.number] = keys
                taken |= keys
            done, _ = wait(
                list(running.values()), timeout=0.5, return_when=FIRST_COMPLETED
            )
            for number in [n for n, future in running.items() if future in done]:
                del running[number]
                del busy[number]
                count += 1


def _run_entry(git_dir: Path, entry: queue.QueueEntry, origin: str | None) -> None:
    """Run one entry to the end; every failure is recorded, none is raised."""
    from lightci.runner import execute

    # Each run has its own Store, so runs in parallel threads share no
    # pygit2 objects.
    store = Store.open(git_dir)
    active = store.state_dir / "active" / str(entry.number)
    active.parent.mkdir(parents=True, exist_ok=True)
    active.write_text(f"{os.getpid()}\n")
    logger.info("run %d started: %s at %s", entry.number, entry.ref, entry.new[:12])
    try:
        run = execute(store, entry, origin=origin)
        logger.info("run %d finished: %s", entry.number, run.status)
    except Exception as exc:
        logger.exception("run %d crashed the worker", entry.number)
        _finish_as_error(
            store,
            entry.number,
            "lightci failed while running this run "
            f"({type(exc).__name__}: {exc}); the traceback is in "
            f"{store.state_dir / 'worker.log'}",
        )
    finally:
        _cleanup_run(store, entry.number)


class _QueueRecorder(threading.Thread):
    """Writes the queued record of entries that arrive while a run is going.

    Without it, a run pushed during a long run would be missing from
    ``lightci log`` and ``lightci status`` until the worker got to it. The
    thread has its own Store, and ``lock`` keeps it from recording an entry
    that the worker is starting at that moment.
    """

    def __init__(self, git_dir: Path, origin: str | None) -> None:
        super().__init__(name="lightci-queue-recorder", daemon=True)
        self.git_dir = git_dir
        self.origin = origin
        self.lock = threading.Lock()
        self._stopped = threading.Event()
        self._recorded: set[int] = set()

    def record(self, store: Store, entries: list[queue.QueueEntry]) -> None:
        """Write a queued record for each entry that has none; hold ``lock``."""
        from lightci.runner import record_queued

        for entry in entries:
            if entry.number in self._recorded:
                continue
            record_queued(store, entry, origin=self.origin)
            self._recorded.add(entry.number)

    def run(self) -> None:
        store = Store.open(self.git_dir)
        while not self._stopped.wait(_RECORD_POLL_SECONDS):
            try:
                with self.lock:
                    self.record(store, queue.read_entries(store.state_dir))
            except Exception:
                logger.exception("recording queued runs failed; retrying")

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def recover(store: Store) -> None:
    """Finish runs left ``running`` by a worker that died, and clean up after it."""
    active_dir = store.state_dir / "active"
    if not active_dir.is_dir():
        return
    for name in sorted(os.listdir(active_dir)):
        if not name.isdigit():
            continue
        number = int(name)
        try:
            pid = (active_dir / name).read_text().strip()
        except OSError:
            pid = "?"
        if pid.isdigit() and int(pid) != os.getpid() and _process_alive(int(pid)):
            continue  # a `lightci run` in the foreground, still going
        logger.warning(
            "run %d was left unfinished by worker %s; finishing it as error",
            number,
            pid,
        )
        finish_orphaned_run(
            store,
            number,
            f"the worker running this run (pid {pid}) stopped before it finished "
            f"(killed or crashed); `lightci retry {number}` runs it again",
        )


def orphan_owner(store: Store, number: int) -> str | None:
    """Return the pid of a dead process that was running run ``number``.

    Returns None when the run is not marked active or its process lives.
    """
    try:
        pid = (store.state_dir / "active" / str(number)).read_text().strip()
    except OSError:
        return None
    if pid.isdigit() and _process_alive(int(pid)):
        return None
    return pid or "?"


def finish_orphaned_run(
    store: Store, number: int, message: str, *, status: str = ERROR
) -> None:
    """Stop what a dead worker left of a run, record it finished, clean up."""
    _stop_leftover_groups(store.state_dir / "active" / f"{number}.groups")
    _finish_as_error(store, number, message, status=status)
    _cleanup_run(store, number)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_leftover_groups(path: Path) -> None:
    from lightci.executor import stop_process_group

    try:
        groups = {int(line) for line in path.read_text().split() if line.isdigit()}
    except OSError:
        return
    for group in groups:
        stop_process_group(group, grace=1.0)


def _finish_as_error(
    store: Store, number: int, message: str, *, status: str = ERROR
) -> None:
    """Finish a run whose worker stopped, keeping the logs it wrote.

    A run that is already finished gets its note lines written again,
    because the worker may have died between the record and the notes.
    """
    from lightci.builds import record_finished

    run = store.read_run(number, with_jobs=True)
    if run is None:
        return
    if run.status in FINISHED_STATUSES:
        store.set_note_line(run)
        record_finished(store, run)
        return
    logs = {}
    for job in run.jobs:
        if job.status in (QUEUED, RUNNING):
            job.status = status
            job.reason = message
            job.finished = utc_now()
            for step in job.steps:
                if step.status in (QUEUED, RUNNING):
                    step.status = status
        live = store.live_log_path(number, job.slug)
        if live.exists():
            logs[job.slug] = live
    run.status = status
    run.message = message
    run.finished = utc_now()
    store.write_run(run, message=f"run {number}: {status}\n", jobs=run.jobs, logs=logs)
    store.set_note_line(run)
    record_finished(store, run)


def _cleanup_run(store: Store, number: int) -> None:
    work_dir = store.state_dir / "work" / str(number)
    if work_dir.is_dir():
        for path in sorted(work_dir.iterdir()):
            remove_worktree(store.git_dir, path)
        shutil.rmtree(work_dir, ignore_errors=True)
    shutil.rmtree(store.state_dir / "live" / str(number), ignore_errors=True)
    for leftover in ("active/{n}", "active/{n}.groups", "cancel/{n}"):
        with suppress(FileNotFoundError):
            (store.state_dir / leftover.format(n=number)).unlink()
    queue.remove(store.state_dir, number)


def spawn_worker(git_dir: Path) -> None:
    """Start a worker fully detached: own session, no terminal, output to its log."""
    state_dir = git_dir / "lightci"
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "worker.log", "ab") as log:
        subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-m",
                "lightci",
                "worker",
                "--git-dir",
                str(git_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            cwd=git_dir,
            env=clean_environ(),
        )
