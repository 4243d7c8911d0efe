"""Concurrency groups: at most one run of a group at a time.

A run's groups are its pipeline's ``concurrency`` group and those of its
jobs, with ``${{ ... }}`` filled in for the run. They are recorded when the
run is queued, in ``<git_dir>/lightci/groups/<N>`` (JSON). A newer run
whose group has ``cancel-in-progress: true`` cancels the older unfinished
runs that share that group, queued or running. Without it, the newer run
waits: the worker starts runs in number order and does not start one whose
group a running run holds, and a run started in the foreground with
``lightci run`` waits in ``wait_for_groups``.

NOTE: a job-level group cancels or waits for the whole older run, because
a run is the unit the queue and the cancel flag know about.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from lightci import queue
from lightci.pipeline import Pipeline
from lightci.plan import JobPlan, RunContext, substitute
from lightci.records import FINISHED_STATUSES
from lightci.store import Store

logger = logging.getLogger("lightci.concurrency")

_WAIT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Group:
    key: str
    cancel_in_progress: bool


def pipeline_uses_concurrency(pipeline: Pipeline) -> bool:
    if pipeline.concurrency is not None:
        return True
    return any(job.concurrency is not None for job in pipeline.jobs.values())


def job_groups(
    pipeline: Pipeline, plans: list[JobPlan], context: RunContext
) -> dict[str, Group]:
    """Return the concurrency group of each planned job that has one, by job name."""
    groups: dict[str, Group] = {}
    for plan in plans:
        setting = pipeline.jobs[plan.base_name].concurrency
        if setting is None:
            continue
        key = substitute(setting.group, context, plan.matrix, job=plan.name)
        groups[plan.name] = Group(f"job:{key}", setting.cancel_in_progress)
    return groups


def run_groups(
    pipeline: Pipeline, plans: list[JobPlan], context: RunContext
) -> list[Group]:
    """Return the distinct groups of a run: the pipeline's, then its jobs'."""
    groups: list[Group] = []
    if pipeline.concurrency is not None:
        key = substitute(pipeline.concurrency.group, context, {})
        groups.append(Group(key, pipeline.concurrency.cancel_in_progress))
    for group in job_groups(pipeline, plans, context).values():
        if group not in groups:
            groups.append(group)
    return groups


def groups_dir(store: Store) -> Path:
    return store.state_dir / "groups"


def read_groups(store: Store, number: int) -> list[Group]:
    try:
        data = json.loads((groups_dir(store) / str(number)).read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [Group(item["key"], bool(item["cancel"])) for item in data["groups"]]


def record_groups(store: Store, number: int, groups: list[Group]) -> None:
    folder = groups_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"groups": [{"key": g.key, "cancel": g.cancel_in_progress} for g in groups]}
    )
    temporary = folder / f".{number}.{os.getpid()}.tmp"
    temporary.write_text(text + "\n")
    os.replace(temporary, folder / str(number))


def _unfinished_runs_sharing(store: Store, number: int, keys: set[str]) -> list[int]:
    folder = groups_dir(store)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not name.isdigit() or int(name) >= number:
            continue
        other = int(name)
        if not keys & {group.key for group in read_groups(store, other)}:
            continue
        run = store.read_run(other)
        if run is not None and run.status in FINISHED_STATUSES:
            continue
        if run is None and queue.read_entry(store.state_dir, other) is None:
            continue
        found.append(other)
    return sorted(found)


def claim_groups(store: Store, number: int, groups: list[Group]) -> list[str]:
    """Record run ``number``'s groups and cancel the older runs it replaces.

    Returns one line per cancelled run, for the pusher or the terminal.
    """
    from lightci.commands.cancel import cancel_run

    if not groups:
        return []
    record_groups(store, number, groups)
    keys = {group.key for group in groups if group.cancel_in_progress}
    lines = []
    for other in _unfinished_runs_sharing(store, number, keys):
        logger.info(
            "run %d cancels run %d of the same concurrency group", number, other
        )
        try:
            lines.append(cancel_run(store, other, reason=f"replaced by run {number}"))
        except Exception:
            logger.exception("run %d could not cancel run %d", number, other)
    return lines


def claim_for_entry(store: Store, entry: queue.QueueEntry) -> list[str]:
    """Plan a queued run's pipeline and claim its groups; see ``claim_groups``.

    A commit without a pipeline, or with an invalid one, has no groups; its
    run ends as ``error`` when the worker reaches it.
    """
    from lightci.errors import PipelineError
    from lightci.pipeline import load_pipeline
    from lightci.plan import plan_jobs

    try:
        found = store.read_pipeline(entry.new)
    except PipelineError:
        return []
    if found is None:
        return []
    filename, content = found
    context = RunContext(
        number=entry.number, commit=entry.new, ref=entry.ref, event=entry.event
    )
    try:
        pipeline = load_pipeline(content, filename)
        if not pipeline_uses_concurrency(pipeline):
            return []
        plans = plan_jobs(pipeline, context, filename=filename)
    except PipelineError:
        return []
    return claim_groups(store, entry.number, run_groups(pipeline, plans, context))


def wait_for_groups(
    store: Store, number: int, groups: list[Group], cancel: threading.Event
) -> None:
    """Block until no older unfinished run shares a group with run ``number``.

    The worker does not start a run whose group a running run holds, so
    this waits for a run that ``lightci run`` started in the foreground, or
    for a group recorded only when the run started.
    """
    keys = {group.key for group in groups}
    if not keys:
        return
    while not cancel.is_set():
        others = [
            other
            for other in _unfinished_runs_sharing(store, number, keys)
            if (store.state_dir / "active" / str(other)).exists()
        ]
        if not others:
            return
        cancel.wait(_WAIT_POLL_SECONDS)
