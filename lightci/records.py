"""Run, job and step records: what lightci stores about a run, and its JSON form.

The records are plain mutable dataclasses because the engine fills them in
as a run goes on; each write to the store snapshots them into JSON. They
import nothing heavy, so the quick read-only commands stay fast.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from lightci.errors import LightciError

FORMAT_VERSION = 1


class RecordError(LightciError):
    """A stored record that this version of lightci cannot read."""


RUNS_PREFIX = "refs/lightci/runs/"
ARTIFACTS_PREFIX = "refs/lightci/artifacts/"
NOTES_REF = "refs/notes/lightci"
CLONES_PREFIX = "refs/lightci/clones/"
REMOTES_PREFIX = "refs/lightci/remotes/"
PIPELINE_FILES = (".lightci.yml", ".lightci.yaml")

QUEUED = "queued"
RUNNING = "running"
PASSED = "passed"
FAILED = "failed"
ERROR = "error"
CANCELLED = "cancelled"
TIMED_OUT = "timed-out"
SKIPPED = "skipped"

STATUSES = (QUEUED, RUNNING, PASSED, FAILED, ERROR, CANCELLED, TIMED_OUT, SKIPPED)
FINISHED_STATUSES = frozenset({PASSED, FAILED, ERROR, CANCELLED, TIMED_OUT, SKIPPED})
EVENTS = ("push", "pre-push", "post-commit", "manual", "retry")


def utc_now() -> str:
    """Return the current time as ISO 8601 UTC with millisecond precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 UTC time as written by ``utc_now`` (or without fraction)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_between(start: str | None, end: str | None) -> float | None:
    begin = parse_time(start)
    finish = parse_time(end)
    if begin is None or finish is None:
        return None
    return (finish - begin).total_seconds()


_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def job_slug(name: str) -> str:
    """Return a form of a job name safe as a file name, e.g. ``test-3.11``."""
    slug = _SLUG_UNSAFE.sub("-", name).strip("-.")
    return slug or "job"


@dataclass
class StepRecord:
    name: str
    command: str
    status: str = QUEUED
    exit_code: int | None = None
    duration: float | None = None
    started: str | None = None
    finished: str | None = None


@dataclass
class JobRecord:
    name: str
    slug: str
    display_name: str | None = None
    status: str = QUEUED
    needs: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    reason: str | None = None
    allow_failure: bool = False
    attempt: int = 1
    matrix: dict[str, str] = field(default_factory=dict)
    log_size: int = 0
    log_truncated: bool = False
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The name to show people: the job's ``name:``, else its key."""
        return self.display_name or self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["steps"] = [_step_from_dict(step) for step in data.get("steps", [])]
        return cls(**values)


def _step_from_dict(data: dict[str, Any]) -> StepRecord:
    known = {f.name for f in fields(StepRecord)}
    return StepRecord(**{key: value for key, value in data.items() if key in known})


@dataclass
class ArtifactRecord:
    name: str
    job: str
    path: str
    kind: str  # "blob" for a file, "tree" for a folder
    size: int
    sha256: str | None
    expires: str | None
    run: int = 0
    object_id: str = ""


@dataclass
class RunRecord:
    number: int
    commit: str
    ref: str
    event: str
    status: str = QUEUED
    created: str = field(default_factory=utc_now)
    started: str | None = None
    finished: str | None = None
    pipeline: str | None = None
    message: str | None = None
    origin: str | None = None
    jobs: list[JobRecord] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        return seconds_between(self.started, self.finished)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def summary_dict(self) -> dict[str, Any]:
        """Return the run.json form: run fields and a short entry per job."""
        return {
            "format": FORMAT_VERSION,
            "number": self.number,
            "status": self.status,
            "commit": self.commit,
            "ref": self.ref,
            "event": self.event,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "pipeline": self.pipeline,
            "message": self.message,
            "origin": self.origin,
            "jobs": [
                {
                    "name": job.name,
                    "slug": job.slug,
                    "display_name": job.display_name,
                    "status": job.status,
                    "started": job.started,
                    "finished": job.finished,
                }
                for job in self.jobs
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the full form, as ``--json`` prints it: run fields, whole jobs."""
        data = self.summary_dict()
        del data["format"]
        data["duration"] = self.duration
        data["jobs"] = [job.to_dict() for job in self.jobs]
        return data

    @classmethod
    def from_summary(cls, data: dict[str, Any]) -> RunRecord:
        """Build a run from its run.json; raise RecordError if that is unreadable."""
        number = data.get("number", "?") if isinstance(data, dict) else "?"
        version = data.get("format", 1) if isinstance(data, dict) else None
        if isinstance(version, int) and not isinstance(version, bool):
            if version > FORMAT_VERSION:
                raise RecordError(
                    f"run {number} is stored in record format {version}, newer "
                    f"than this lightci reads ({FORMAT_VERSION}); upgrade lightci"
                )
            if version >= 1:
                try:
                    return cls._from_valid_summary(data)
                except (KeyError, TypeError, ValueError) as exc:
                    raise RecordError(
                        f"run {number} has an invalid record ({exc!r} in run.json)"
                    ) from exc
        raise RecordError(
            f"run {number} has an invalid record format {version!r} in run.json"
        )

    @classmethod
    def _from_valid_summary(cls, data: dict[str, Any]) -> RunRecord:
        run = cls(
            number=int(data["number"]),
            commit=data["commit"],
            ref=data["ref"],
            event=data["event"],
            status=data["status"],
            created=data["created"],
            started=data.get("started"),
            finished=data.get("finished"),
            pipeline=data.get("pipeline"),
            message=data.get("message"),
            origin=data.get("origin"),
        )
        run.jobs = [
            JobRecord(
                name=job["name"],
                slug=job["slug"],
                display_name=job.get("display_name"),
                status=job["status"],
                started=job.get("started"),
                finished=job.get("finished"),
            )
            for job in data.get("jobs", [])
        ]
        return run


def format_duration(seconds: float | None) -> str:
    """Format seconds for people: ``0.4s``, ``12s``, ``3m05s``, ``1h02m``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_ref(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/", "refs/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def note_line(run: RunRecord) -> str:
    """Return the one-line summary of a run kept in the commit's note.

    The line starts with ``run <id>`` so that merging notes from several
    places can keep one line per run.
    """
    duration = format_duration(run.duration) if run.is_finished else "-"
    origin = f" @{run.origin}" if run.origin else ""
    return (
        f"run {run.number}{origin} {run.status} "
        f"({run.event} {short_ref(run.ref)}, {duration})"
    )


def note_key(line: str) -> str:
    """Return the part of a note line that names its run, e.g. ``run 12``."""
    parts = line.split(" ", 3)
    if len(parts) >= 3 and parts[0] == "run" and parts[2].startswith("@"):
        return " ".join(parts[:3])
    return " ".join(parts[:2])


def parse_summary(raw: bytes) -> RunRecord:
    """Parse a run.json blob; raise RecordError if it cannot be read."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RecordError(f"a run has an invalid run.json: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordError("a run has an invalid run.json: not a JSON object")
    return RunRecord.from_summary(data)
