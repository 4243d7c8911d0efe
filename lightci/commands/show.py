"""``lightci show RUN``: one run with its jobs, steps and artifacts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from lightci.output import relative_time, status_text
from lightci.records import (
    ArtifactRecord,
    RunRecord,
    format_duration,
    seconds_between,
    short_ref,
)
from lightci.store import Store


def show_json(
    store: Store,
    run: RunRecord,
    *,
    artifacts: Sequence[ArtifactRecord] | None = None,
    label: str | None = None,
) -> str:
    """Format the run and its artifacts as JSON.

    A run recorded elsewhere passes its ``artifacts`` and its id as
    ``label``, because its artifacts are not under its number here.
    """
    data = run.to_dict()
    if label is not None:
        data["id"] = label
    if artifacts is None:
        artifacts = store.list_artifacts(run.number)
    data["artifacts"] = [
        {
            "name": item.name,
            "job": item.job,
            "path": item.path,
            "kind": item.kind,
            "size": item.size,
            "sha256": item.sha256,
            "expires": item.expires,
        }
        for item in artifacts
    ]
    return json.dumps(data, indent=2) + "\n"


def show_text(
    store: Store,
    run: RunRecord,
    *,
    colour: bool,
    artifacts: Sequence[ArtifactRecord] | None = None,
    label: str | None = None,
) -> str:
    if artifacts is None:
        artifacts = store.list_artifacts(run.number)
    out = [
        f"run {label or run.number}  {status_text(run.status, colour=colour)}",
        f"commit   {run.commit}",
        f"ref      {short_ref(run.ref)} ({run.ref})",
        f"event    {run.event}" + (f"  from {run.origin}" if run.origin else ""),
        f"created  {run.created} ({relative_time(run.created)})",
        f"duration {format_duration(run.duration)}",
    ]
    if run.pipeline:
        out.append(f"pipeline {run.pipeline}")
    if run.message:
        out.append("")
        out.extend(f"  {line}" for line in run.message.splitlines())
    if run.jobs:
        out.append("")
        out.append("jobs:")
    for job in run.jobs:
        duration = format_duration(seconds_between(job.started, job.finished))
        needs = f"  needs {', '.join(job.needs)}" if job.needs else ""
        attempt = f"  attempt {job.attempt}" if job.attempt > 1 else ""
        out.append(
            f"  {status_text(job.status, colour=colour, width=9)} {job.title}  "
            f"{duration}{needs}{attempt}"
        )
        if job.reason:
            out.append(f"      {job.reason}")
        for step in job.steps:
            code = "" if step.exit_code is None else f"  exit {step.exit_code}"
            out.append(
                f"      {status_text(step.status, colour=colour, width=9)} "
                f"{step.name}  {format_duration(step.duration)}{code}"
            )
    if artifacts:
        out.append("")
        out.append("artifacts:")
        for item in artifacts:
            out.append(f"  {item.name}  {item.size} bytes  ({item.job})")
    return "\n".join(out) + "\n"
